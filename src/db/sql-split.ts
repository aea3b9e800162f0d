// Split a .sql file into statements (PGlite's extended protocol takes one at a time).
// Knows single-quoted strings, double-quoted identifiers, dollar quotes and comments.
export function splitSql(text: string): string[] {
  const out: string[] = []
  let cur = ''
  let i = 0
  while (i < text.length) {
    const c = text[i]
    const rest = text.slice(i)
    if (rest.startsWith('--')) {
      const end = text.indexOf('\n', i)
      i = end === -1 ? text.length : end + 1
      cur += '\n'
      continue
    }
    if (rest.startsWith('/*')) {
      const end = text.indexOf('*/', i + 2)
      i = end === -1 ? text.length : end + 2
      continue
    }
    const dollar = /^\$[A-Za-z_]*\$/.exec(rest)
    if (dollar) {
      const tag = dollar[0]
      const end = text.indexOf(tag, i + tag.length)
      if (end === -1) throw new Error(`unterminated ${tag} quote`)
      cur += text.slice(i, end + tag.length)
      i = end + tag.length
      continue
    }
    if (c === "'" || c === '"') {
      let j = i + 1
      while (j < text.length) {
        if (text[j] === c) {
          if (text[j + 1] === c) { j += 2; continue }
          break
        }
        j++
      }
      cur += text.slice(i, j + 1)
      i = j + 1
      continue
    }
    if (c === ';') {
      if (cur.trim()) out.push(cur.trim())
      cur = ''
      i++
      continue
    }
    cur += c
    i++
  }
  if (cur.trim()) out.push(cur.trim())
  return out
}
