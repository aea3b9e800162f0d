// Printable PDF documents (notices, letters, rolls) with embedded Simplified Chinese fonts.
// A thin wrapper over PDFKit: A4, 50pt margins, CJK fonts 'cjk' and 'cjk-bold', block helpers
// that keep track of the vertical cursor, and a "第 N 页 / 共 M 页" footer added on finish().
import { readFileSync, existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import PDFDocument from 'pdfkit'
import QRCode from 'qrcode'

export const PDF_AUTHOR = '业主共治'

export type Align = 'left' | 'right' | 'center'

export interface PdfColumn {
  header: string
  /** Width in points; if the columns add up to more than the content width they are scaled down to fit. */
  width: number
  align?: Align
}

export interface ParagraphOptions {
  /** Font size in points (default 10.5). */
  size?: number
  bold?: boolean
  align?: Align | 'justify'
  /** Fill colour, e.g. '#555555' (default near-black). */
  color?: string
  /** Extra space after the paragraph in points (default size × 0.5). */
  gapAfter?: number
  /** Extra spacing between characters in points (useful for codes in large type). */
  characterSpacing?: number
}

export interface TableOptions {
  /** Font size for cells (default 9). */
  fontSize?: number
  /** Maximum lines a cell may wrap to before it is clipped with '…' (default 2). */
  maxLines?: number
  /** Shade every other row (default true). */
  zebra?: boolean
}

export interface QrOptions {
  align?: Align
  /** Small line of text under the code. */
  caption?: string
}

export interface PdfDoc {
  /** The underlying PDFKit document, for drawing not covered by the helpers. */
  readonly doc: PDFKit.PDFDocument
  /** Left edge and usable width of the text block. */
  readonly left: number
  readonly contentWidth: number
  heading(text: string, opts?: { size?: number; align?: Align }): PdfDoc
  paragraph(text: string, opts?: ParagraphOptions): PdfDoc
  keyValues(pairs: Array<[string, string]>, opts?: { size?: number }): PdfDoc
  table(columns: PdfColumn[], rows: string[][], opts?: TableOptions): PdfDoc
  qr(text: string, size: number, opts?: QrOptions): Promise<PdfDoc>
  /** Vertical space in points. */
  space(points: number): PdfDoc
  /** Starts a new page unless at least `points` of vertical space remain on this one. */
  ensureSpace(points: number): PdfDoc
  pageBreak(): PdfDoc
  /** Adds the page footer to every page and resolves with the complete PDF. */
  finish(): Promise<Buffer>
}

// ---------------------------------------------------------------------------------------------
// Fonts: the OTF files are ~8 MB each, so read them once per process and share the bytes.
// PDFKit embeds only the glyphs used (subsetting), so documents stay small.

interface FontBytes {
  regular: Buffer
  bold: Buffer
}

let fontCache: FontBytes | null = null

function fontDir(): string {
  const require = createRequire(import.meta.url)
  // The package's `exports` only has '.', which resolves to <root>/dist/index.(c)js.
  let dir = dirname(require.resolve('@embedpdf/fonts-sc'))
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, 'fonts', 'NotoSansHans-Regular.otf'))) return join(dir, 'fonts')
    dir = dirname(dir)
  }
  throw new Error('@embedpdf/fonts-sc: fonts/NotoSansHans-Regular.otf not found')
}

export function loadCjkFonts(): FontBytes {
  if (!fontCache) {
    const dir = fontDir()
    fontCache = {
      regular: readFileSync(join(dir, 'NotoSansHans-Regular.otf')),
      bold: readFileSync(join(dir, 'NotoSansHans-Bold.otf')),
    }
  }
  return fontCache
}

// ---------------------------------------------------------------------------------------------

const MARGIN = 50
const FOOTER_SIZE = 8.5
const TEXT_COLOR = '#1a1a1a'
const MUTED = '#666666'
const RULE = '#999999'
const HAIRLINE = '#d9d9d9'
const ZEBRA = '#f4f6f8'
const HEADER_FILL = '#e8ecf0'

function isCjk(ch: string): boolean {
  return /[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f]/.test(ch)
}

export function createPdf(meta: { title: string; subject?: string }): PdfDoc {
  const fonts = loadCjkFonts()
  const doc = new PDFDocument({
    size: 'A4',
    margins: { top: MARGIN, bottom: MARGIN, left: MARGIN, right: MARGIN },
    bufferPages: true,
    lang: 'zh-CN',
    displayTitle: true,
    info: {
      Title: meta.title,
      Author: PDF_AUTHOR,
      Creator: PDF_AUTHOR,
      Producer: PDF_AUTHOR,
      CreationDate: new Date(),
      ...(meta.subject ? { Subject: meta.subject } : {}),
    },
  })
  doc.registerFont('cjk', fonts.regular)
  doc.registerFont('cjk-bold', fonts.bold)
  doc.font('cjk').fontSize(10.5).fillColor(TEXT_COLOR)

  const chunks: Buffer[] = []
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('data', (c: Buffer) => chunks.push(c))
    doc.on('end', () => resolve(Buffer.concat(chunks)))
    doc.on('error', reject)
  })

  const left = doc.page.margins.left
  const contentWidth = doc.page.width - doc.page.margins.left - doc.page.margins.right
  const bottom = () => doc.page.height - doc.page.margins.bottom

  const newPage = () => {
    doc.addPage()
    doc.x = left
    doc.y = doc.page.margins.top
  }
  const atTop = () => doc.y <= doc.page.margins.top + 0.5
  const ensureSpace = (h: number) => {
    if (doc.y + h > bottom() && !atTop()) newPage()
  }
  const setFont = (bold: boolean, size: number) => doc.font(bold ? 'cjk-bold' : 'cjk').fontSize(size)

  /** Draws a single line without PDFKit's line wrapper (which would add pages on its own). */
  const drawLine = (text: string, x: number, y: number, width: number, align: Align) => {
    if (!text) return
    let dx = 0
    if (align !== 'left') {
      const w = doc.widthOfString(text)
      dx = align === 'right' ? width - w : (width - w) / 2
    }
    doc.text(text, x + Math.max(dx, 0), y, { lineBreak: false })
  }

  /** Breaks text into lines that fit `width` with the current font; clips to maxLines with '…'. */
  const fitLines = (text: string, width: number, maxLines: number): string[] => {
    const out: string[] = []
    const hard = text.split(/\r?\n/)
    for (let h = 0; h < hard.length; h++) {
      let rest = hard[h]
      while (rest.length > 0) {
        if (out.length === maxLines) break
        if (doc.widthOfString(rest) <= width) {
          out.push(rest)
          rest = ''
          break
        }
        const chars = [...rest]
        // Longest prefix (in code points) that fits, by binary search.
        let lo = 1
        let hi = chars.length - 1
        let fit = 1
        while (lo <= hi) {
          const mid = (lo + hi) >> 1
          if (doc.widthOfString(chars.slice(0, mid).join('')) <= width) {
            fit = mid
            lo = mid + 1
          } else hi = mid - 1
        }
        // Don't split a Latin word or number if an earlier break opportunity exists.
        let cut = fit
        if (!isCjk(chars[fit - 1]) && !isCjk(chars[fit]) && chars[fit] !== ' ') {
          for (let i = fit - 1; i > 0; i--) {
            if (chars[i] === ' ' || isCjk(chars[i]) || '、，,;；/'.includes(chars[i])) {
              cut = chars[i] === ' ' ? i : i + 1
              break
            }
          }
        }
        out.push(chars.slice(0, cut).join('').trimEnd())
        rest = chars.slice(cut).join('').replace(/^ +/, '')
      }
      if (out.length === maxLines && (rest.length > 0 || h < hard.length - 1)) {
        // Clip: make the last line end with an ellipsis that fits.
        let last = [...out[maxLines - 1]]
        while (last.length > 0 && doc.widthOfString(last.join('') + '…') > width) last.pop()
        out[maxLines - 1] = last.join('') + '…'
        break
      }
    }
    return out
  }

  const api: PdfDoc = {
    doc,
    left,
    contentWidth,

    heading(text, opts = {}) {
      const size = opts.size ?? 15
      setFont(true, size).fillColor(TEXT_COLOR)
      // Keep a heading together with at least a couple of lines that follow it.
      ensureSpace(doc.currentLineHeight(true) + 40)
      doc.text(text, left, doc.y, { width: contentWidth, align: opts.align ?? 'left' })
      doc.y += size * 0.45
      setFont(false, 10.5)
      return api
    },

    paragraph(text, opts = {}) {
      const size = opts.size ?? 10.5
      setFont(opts.bold ?? false, size).fillColor(opts.color ?? TEXT_COLOR)
      const options: PDFKit.Mixins.TextOptions = {
        width: contentWidth,
        align: opts.align ?? 'left',
        lineGap: size * 0.25,
        characterSpacing: opts.characterSpacing,
      }
      ensureSpace(Math.min(doc.heightOfString(text, options), doc.currentLineHeight(true) * 2))
      doc.text(text, left, doc.y, options)
      doc.y += opts.gapAfter ?? size * 0.5
      setFont(false, 10.5).fillColor(TEXT_COLOR)
      return api
    },

    keyValues(pairs, opts = {}) {
      const size = opts.size ?? 10.5
      setFont(true, size)
      const keyW = Math.min(Math.max(0, ...pairs.map(([k]) => doc.widthOfString(k))) + size, contentWidth * 0.4)
      const valW = contentWidth - keyW
      for (const [k, v] of pairs) {
        setFont(false, size)
        const vh = doc.heightOfString(v || ' ', { width: valW, lineGap: size * 0.2 })
        ensureSpace(vh)
        const y = doc.y
        setFont(true, size).fillColor(MUTED)
        doc.text(k, left, y, { lineBreak: false })
        setFont(false, size).fillColor(TEXT_COLOR)
        doc.text(v, left + keyW, y, { width: valW, lineGap: size * 0.2 })
        doc.y = Math.max(doc.y, y + vh) + size * 0.3
      }
      doc.y += size * 0.3
      setFont(false, 10.5).fillColor(TEXT_COLOR)
      return api
    },

    table(columns, rows, opts = {}) {
      const size = opts.fontSize ?? 9
      const maxLines = Math.max(1, opts.maxLines ?? 2)
      const zebra = opts.zebra ?? true
      const padX = 4
      const padY = 3
      const total = columns.reduce((s, c) => s + c.width, 0)
      const scale = total > contentWidth ? contentWidth / total : 1
      const widths = columns.map((c) => c.width * scale)
      const xs: number[] = []
      widths.reduce((x, w, i) => ((xs[i] = x), x + w), left)
      const tableW = widths.reduce((s, w) => s + w, 0)
      setFont(false, size)
      const lineH = doc.currentLineHeight(true)

      const headerLines = columns.map((c, i) => {
        setFont(true, size)
        return fitLines(c.header, widths[i] - 2 * padX, 2)
      })
      const headerH = Math.max(...headerLines.map((l) => l.length)) * lineH + 2 * padY

      const drawHeader = () => {
        const y = doc.y
        doc.rect(left, y, tableW, headerH).fill(HEADER_FILL)
        setFont(true, size).fillColor(TEXT_COLOR)
        columns.forEach((c, i) => {
          headerLines[i].forEach((ln, j) =>
            drawLine(ln, xs[i] + padX, y + padY + j * lineH, widths[i] - 2 * padX, c.align ?? 'left'),
          )
        })
        doc.lineWidth(0.8).strokeColor(RULE)
        doc.moveTo(left, y).lineTo(left + tableW, y).stroke()
        doc.moveTo(left, y + headerH).lineTo(left + tableW, y + headerH).stroke()
        doc.y = y + headerH
        setFont(false, size)
      }

      // Header plus at least one row must fit, otherwise start the table on a new page.
      ensureSpace(headerH + lineH + 2 * padY)
      drawHeader()
      rows.forEach((row, r) => {
        setFont(false, size)
        const cells = columns.map((_, i) => fitLines(row[i] ?? '', widths[i] - 2 * padX, maxLines))
        const rowH = Math.max(1, ...cells.map((l) => l.length)) * lineH + 2 * padY
        if (doc.y + rowH > bottom()) {
          newPage()
          drawHeader()
        }
        const y = doc.y
        if (zebra && r % 2 === 1) doc.rect(left, y, tableW, rowH).fill(ZEBRA)
        doc.fillColor(TEXT_COLOR)
        cells.forEach((lines, i) =>
          lines.forEach((ln, j) =>
            drawLine(ln, xs[i] + padX, y + padY + j * lineH, widths[i] - 2 * padX, columns[i].align ?? 'left'),
          ),
        )
        doc.lineWidth(0.4).strokeColor(HAIRLINE)
        doc.moveTo(left, y + rowH).lineTo(left + tableW, y + rowH).stroke()
        doc.y = y + rowH
      })
      doc.lineWidth(0.8).strokeColor(RULE)
      doc.moveTo(left, doc.y).lineTo(left + tableW, doc.y).stroke()
      doc.x = left
      doc.y += 10
      setFont(false, 10.5).fillColor(TEXT_COLOR)
      return api
    },

    async qr(text, size, opts = {}) {
      // Render at ~4 px per point so the code prints sharply.
      const png = await QRCode.toBuffer(text, {
        type: 'png',
        errorCorrectionLevel: 'M',
        margin: 1,
        width: Math.ceil(size * 4),
      })
      const captionH = opts.caption ? 16 : 0
      ensureSpace(size + captionH)
      const align = opts.align ?? 'left'
      const x = align === 'left' ? left : align === 'right' ? left + contentWidth - size : left + (contentWidth - size) / 2
      const y = doc.y
      doc.image(png, x, y, { width: size, height: size })
      doc.y = y + size + 2
      if (opts.caption) {
        setFont(false, 8.5).fillColor(MUTED)
        const w = Math.max(size, doc.widthOfString(opts.caption))
        const cx = align === 'left' ? x : align === 'right' ? left + contentWidth - w : left + (contentWidth - w) / 2
        drawLine(opts.caption, cx, doc.y, w, align === 'left' ? 'left' : 'center')
        doc.y += captionH - 2
        setFont(false, 10.5).fillColor(TEXT_COLOR)
      }
      doc.x = left
      doc.y += 6
      return api
    },

    space(points) {
      doc.y += points
      return api
    },

    ensureSpace(points) {
      ensureSpace(points)
      return api
    },

    pageBreak() {
      newPage()
      return api
    },

    finish() {
      const range = doc.bufferedPageRange()
      const count = range.count
      for (let i = range.start; i < range.start + count; i++) {
        doc.switchToPage(i)
        setFont(false, FOOTER_SIZE).fillColor(MUTED)
        const label = `第 ${i - range.start + 1} 页 / 共 ${count} 页`
        const y = doc.page.height - doc.page.margins.bottom + 18
        drawLine(label, left, y, contentWidth, 'center')
      }
      doc.flushPages()
      doc.end()
      return done
    },
  }
  return api
}
