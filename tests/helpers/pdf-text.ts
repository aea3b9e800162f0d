// Text of a PDF for assertions, via pdfjs-dist's legacy (Node) build without a worker.
import { getDocument } from 'pdfjs-dist/legacy/build/pdf.mjs'

/**
 * All text of the document: items of a page joined with '', pages joined with '\n'.
 * PDFKit embeds a ToUnicode map, so CJK text comes out as written (no spaces inserted between
 * characters); pdfjs does emit ' ' items between separately drawn strings on the same line,
 * e.g. adjacent table cells ('1号楼 89.56').
 */
export async function pdfText(buf: Buffer | Uint8Array): Promise<string> {
  const task = getDocument({
    data: new Uint8Array(buf),
    useWorkerFetch: false,
    isEvalSupported: false,
    useSystemFonts: false,
    verbosity: 0,
  })
  const pdf = await task.promise
  try {
    const pages: string[] = []
    for (let p = 1; p <= pdf.numPages; p++) {
      const page = await pdf.getPage(p)
      const content = await page.getTextContent()
      const text = content.items.map((it) => ('str' in it ? it.str : '')).join('')
      pages.push(text)
      page.cleanup()
    }
    return pages.join('\n')
  } finally {
    await pdf.destroy()
  }
}

/** Number of pages of a PDF. */
export async function pdfPageCount(buf: Buffer | Uint8Array): Promise<number> {
  const pdf = await getDocument({ data: new Uint8Array(buf), verbosity: 0 }).promise
  try {
    return pdf.numPages
  } finally {
    await pdf.destroy()
  }
}

/** The document information dictionary (Title, Author, Subject, CreationDate, ...). */
export async function pdfInfo(buf: Buffer | Uint8Array): Promise<Record<string, unknown>> {
  const pdf = await getDocument({ data: new Uint8Array(buf), verbosity: 0 }).promise
  try {
    const { info } = await pdf.getMetadata()
    return info as Record<string, unknown>
  } finally {
    await pdf.destroy()
  }
}
