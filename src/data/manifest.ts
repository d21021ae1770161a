// Manifest CSV: one row per clip (video or still image).
//
// Columns (names are case-sensitive; the first alias present wins):
//   id        | video_id          required, unique
//   patient   | patient_id        required; folds split by this exact string
//   severity3 | label             3-class label 0 / 1 / 2, empty = unlabelled
//   lus_score | lus_score_0_3 | score   LUS score 0..3, empty = unknown (label derived from it
//                                     when the label column is absent or empty)
//   path                          optional: frame folder, image or video file, relative to the
//                                 manifest's folder. Absent or empty: the source looks for a
//                                 folder named after the id (see source.ts).
// At least one label or score column must exist. Every other column is kept in `columns`
// (pocus-lus: severity3_basis, probe, license ...). When severity3 exists, `label` is an
// ordinary extra column (pocus-lus uses it for the diagnosis).

import { parseCsv, formatCsv } from './csv.js';
import { DataError, BadInputLog, scoreToClass } from './clip.js';

export interface ManifestItem {
  id: string;
  patient: string;
  score: number | null;
  label: number | null;
  /** As written in the manifest (relative to its folder), or null when not given. */
  path: string | null;
  /** 1-based CSV line of the row, for error messages. */
  row: number;
  /** Every column of the row by header name, as written. */
  columns: Record<string, string>;
}

export interface Manifest {
  file: string; // the manifest's path, for messages
  header: string[];
  items: ManifestItem[];
}

const ID_COLS = ['id', 'video_id'];
const PATIENT_COLS = ['patient', 'patient_id'];
const LABEL_COLS = ['severity3', 'label'];
const SCORE_COLS = ['lus_score', 'lus_score_0_3', 'score'];

function firstPresent(header: string[], names: string[]): number {
  for (const n of names) {
    const i = header.indexOf(n);
    if (i >= 0) return i;
  }
  return -1;
}

function parseInt03(v: string, max: number): number | null | 'bad' {
  if (v === '') return null;
  if (!/^\d+(\.0*)?$/.test(v)) return 'bad';
  const n = Number(v);
  return n >= 0 && n <= max ? n : 'bad';
}

/**
 * Parse a manifest. Bad rows throw a DataError naming the file and row, unless `log` skips
 * bad input, in which case they are recorded there and left out.
 */
export function parseManifest(text: string, file: string, log: BadInputLog = new BadInputLog(false)): Manifest {
  let records;
  try {
    records = parseCsv(text);
  } catch (e) {
    throw new DataError((e as Error).message, file);
  }
  if (records.length === 0) throw new DataError('empty manifest (no header)', file);
  const header = (records[0].fields).map((h) => h.trim());
  const iId = firstPresent(header, ID_COLS);
  const iPatient = firstPresent(header, PATIENT_COLS);
  const iLabel = firstPresent(header, LABEL_COLS);
  const iScore = firstPresent(header, SCORE_COLS);
  const iPath = header.indexOf('path');
  const missing: string[] = [];
  if (iId < 0) missing.push(ID_COLS.join(' or '));
  if (iPatient < 0) missing.push(PATIENT_COLS.join(' or '));
  if (iLabel < 0 && iScore < 0) missing.push([...LABEL_COLS, ...SCORE_COLS].join(' or '));
  if (missing.length > 0)
    throw new DataError(`manifest lacks required column(s): ${missing.join('; ')} (header: ${header.join(',')})`, file, 1);
  const labelName = iLabel >= 0 ? header[iLabel] : '';
  const scoreName = iScore >= 0 ? header[iScore] : '';

  const items: ManifestItem[] = [];
  const seen = new Map<string, number>();
  for (const rec of records.slice(1)) {
    try {
      const f = rec.fields;
      const id = (f[iId] ?? '').trim();
      if (f.length !== header.length)
        throw new DataError(`has ${f.length} fields, the header has ${header.length}`, file, rec.line, id || null);
      if (id === '') throw new DataError(`empty ${header[iId]}`, file, rec.line);
      const patient = f[iPatient].trim();
      if (patient === '') throw new DataError(`empty ${header[iPatient]}`, file, rec.line, id);
      const prev = seen.get(id);
      if (prev !== undefined) throw new DataError(`duplicate id (first on row ${prev})`, file, rec.line, id);
      let score: number | null = null;
      if (iScore >= 0) {
        const s = parseInt03(f[iScore].trim(), 3);
        if (s === 'bad') throw new DataError(`unknown ${scoreName} value '${f[iScore]}' (want 0..3 or empty)`, file, rec.line, id);
        score = s;
      }
      let label: number | null = null;
      if (iLabel >= 0) {
        const l = parseInt03(f[iLabel].trim(), 2);
        if (l === 'bad') throw new DataError(`unknown ${labelName} value '${f[iLabel]}' (want 0, 1, 2 or empty)`, file, rec.line, id);
        label = l;
      }
      if (score !== null) {
        const fromScore = scoreToClass(score);
        if (label === null) label = fromScore;
        else if (label !== fromScore)
          throw new DataError(`${labelName} ${label} disagrees with ${scoreName} ${score} (which maps to ${fromScore})`, file, rec.line, id);
      }
      const columns: Record<string, string> = {};
      header.forEach((h, k) => (columns[h] = f[k]));
      const path = iPath >= 0 && f[iPath].trim() !== '' ? f[iPath].trim() : null;
      seen.set(id, rec.line);
      items.push({ id, patient, score, label, path, row: rec.line, columns });
    } catch (e) {
      log.handle(e);
    }
  }
  return { file, header, items };
}

/** The standard columns this project writes, in order; extra columns follow. */
export const MANIFEST_COLUMNS = ['id', 'patient', 'label', 'lus_score', 'path'];

/** Format items as a manifest in the standard column order, with any extra columns after. */
export function formatManifest(items: readonly ManifestItem[], extra: readonly string[] = []): string {
  const rows: string[][] = [[...MANIFEST_COLUMNS, ...extra]];
  for (const it of items) {
    rows.push([
      it.id, it.patient, it.label === null ? '' : String(it.label), it.score === null ? '' : String(it.score),
      it.path ?? '', ...extra.map((c) => it.columns[c] ?? ''),
    ]);
  }
  return formatCsv(rows);
}

/** True when the item's label is an expert score (pocus-lus: severity3_basis starts with "expert"). */
export function isExpertLabel(item: ManifestItem): boolean {
  const basis = item.columns['severity3_basis'];
  return basis === undefined ? item.label !== null : basis.trim().toLowerCase().startsWith('expert');
}
