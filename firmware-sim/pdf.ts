// A small, valid PDF made by hand (no library): one A4 page per scanned page with a line of text,
// a correct cross-reference table, so a mail client or `qpdf --check` opens it.

export function makePdf(pages = 1, title = 'Scanned document'): Buffer {
  const count = Math.max(1, Math.min(500, Math.floor(pages)));
  const objects: string[] = [];
  const esc = (s: string): string => s.replace(/[\\()]/g, (c) => `\\${c}`).replace(/[^\x20-\x7e]/g, '?');
  // 1 catalog, 2 pages, 3 font, then per page: page object and its content stream.
  objects[1] = '<< /Type /Catalog /Pages 2 0 R >>';
  const kids: string[] = [];
  for (let i = 0; i < count; i++) {
    const pageNo = 4 + i * 2;
    kids.push(`${pageNo} 0 R`);
    const text = `BT /F1 18 Tf 72 770 Td (${esc(title)}) Tj 0 -28 Td /F1 12 Tf (Page ${i + 1} of ${count} - MFP firmware simulator) Tj ET`;
    objects[pageNo] = `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> /Contents ${pageNo + 1} 0 R >>`;
    objects[pageNo + 1] = `<< /Length ${Buffer.byteLength(text, 'latin1')} >>\nstream\n${text}\nendstream`;
  }
  objects[2] = `<< /Type /Pages /Kids [${kids.join(' ')}] /Count ${count} >>`;
  objects[3] = '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>';

  let out = '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n';
  const offsets: number[] = [];
  for (let n = 1; n < objects.length; n++) {
    offsets[n] = Buffer.byteLength(out, 'latin1');
    out += `${n} 0 obj\n${objects[n]}\nendobj\n`;
  }
  const xref = Buffer.byteLength(out, 'latin1');
  out += `xref\n0 ${objects.length}\n0000000000 65535 f \n`;
  for (let n = 1; n < objects.length; n++) out += `${String(offsets[n]).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length} /Root 1 0 R /Info << /Title (${esc(title)}) /Producer (firmware-sim) >> >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}
