import { describe, it, expect } from 'vitest';
import { parseCsv, formatCsv } from '../../src/data/csv';
import { parseManifest, formatManifest, isExpertLabel } from '../../src/data/manifest';
import { BadInputLog, DataError, scoreToClass } from '../../src/data/clip';

describe('csv', () => {
  it('parses quotes, escaped quotes, embedded newlines, CRLF, a BOM and blank lines, keeping line numbers', () => {
    const text = '\ufeffa,b,c\r\n1,"x, y","he said ""hi"""\r\n\r\n2,"two\nlines",\n3,,z';
    const recs = parseCsv(text);
    expect(recs.map((r) => r.fields)).toEqual([['a', 'b', 'c'], ['1', 'x, y', 'he said "hi"'], ['2', 'two\nlines', ''], ['3', '', 'z']]);
    expect(recs.map((r) => r.line)).toEqual([1, 2, 4, 6]);
  });

  it('round-trips through formatCsv', () => {
    const rows = [['id', 'note'], ['a', 'comma, inside'], ['b', 'quote " inside'], ['c', 'new\nline']];
    expect(parseCsv(formatCsv(rows)).map((r) => r.fields)).toEqual(rows);
  });

  it('rejects an unterminated quote', () => {
    expect(() => parseCsv('a,b\n1,"open')).toThrow(/unterminated/);
  });
});

describe('manifest', () => {
  it('maps LUS scores to the 3 classes: 0 -> 0, 1-2 -> 1, 3 -> 2', () => {
    expect([0, 1, 2, 3].map(scoreToClass)).toEqual([0, 1, 1, 2]);
    expect(() => scoreToClass(4)).toThrow();
  });

  it('reads the standard columns, derives the label from the score and keeps extra columns', () => {
    const m = parseManifest('id,patient,label,lus_score,path,site\na,p1,,2,frames/a,left\nb,p2,0,,b.mp4,right\nc,p2,,,c,\n', 'm.csv');
    expect(m.items.map((i) => [i.id, i.patient, i.label, i.score, i.path])).toEqual([
      ['a', 'p1', 1, 2, 'frames/a'], ['b', 'p2', 0, null, 'b.mp4'], ['c', 'p2', null, null, 'c'],
    ]);
    expect(m.items[0].columns.site).toBe('left');
    expect(m.items[0].row).toBe(2);
  });

  it('reads pocus-lus style columns: video_id, patient_id, severity3 over label, no path', () => {
    const text = 'video_id,patient_id,label,lus_score_0_3,severity3,severity3_basis\n' +
      'v1,p1,covid,2,1,expert LUS score\nv2,p1,pneumonia,,2,PROXY: consolidation\nv3,p9,regular,,,no severity\n';
    const m = parseManifest(text, 'pocus.csv');
    expect(m.items.map((i) => [i.id, i.patient, i.label, i.score, i.path])).toEqual([
      ['v1', 'p1', 1, 2, null], ['v2', 'p1', 2, null, null], ['v3', 'p9', null, null, null],
    ]);
    expect(m.items.map(isExpertLabel)).toEqual([true, false, false]);
    expect(m.items[0].columns.label).toBe('covid');
  });

  it('names the file and the missing columns when required columns are absent', () => {
    expect(() => parseManifest('name,patient,label\na,p,0\n', 'x.csv')).toThrow(/x\.csv row 1: manifest lacks required column\(s\): id or video_id/);
    expect(() => parseManifest('id,patient\na,p\n', 'x.csv')).toThrow(/severity3 or label or lus_score/);
    expect(() => parseManifest('', 'x.csv')).toThrow(DataError);
  });

  it('names file, row and id for an unknown label, a bad score, a disagreement, a duplicate and a short row', () => {
    const cases: [string, RegExp][] = [
      ['id,patient,label\na,p,0\nb,p,covid\n', /m\.csv row 3 \(id b\): unknown label value 'covid'/],
      ['id,patient,lus_score\na,p,5\n', /row 2 \(id a\): unknown lus_score value '5'/],
      ['id,patient,label,lus_score\na,p,0,3\n', /row 2 \(id a\): label 0 disagrees with lus_score 3/],
      ['id,patient,label\na,p,0\na,q,1\n', /row 3 \(id a\): duplicate id \(first on row 2\)/],
      ['id,patient,label\na,p\n', /row 2 \(id a\): has 2 fields, the header has 3/],
      ['id,patient,label\na,,0\n', /row 2 \(id a\): empty patient/],
    ];
    for (const [text, re] of cases) expect(() => parseManifest(text, 'm.csv')).toThrow(re);
  });

  it('with skip-bad, turns bad rows into warnings and keeps the good ones', () => {
    const log = new BadInputLog(true);
    const m = parseManifest('id,patient,label\na,p,0\nb,p,covid\nc,q,2\nd,q,7\n', 'm.csv', log);
    expect(m.items.map((i) => i.id)).toEqual(['a', 'c']);
    expect(log.warnings).toHaveLength(2);
    expect(log.warnings[0]).toMatch(/row 3 \(id b\)/);
    expect(log.summary()).toBe('skipped 2 bad items (--skip-bad)');
  });

  it('formatManifest writes what parseManifest reads', () => {
    const m = parseManifest('id,patient,label,lus_score,path,n_frames\na,p1,1,2,frames/a,15\nb,"p,2",,,b.png,1\n', 'm.csv');
    const again = parseManifest(formatManifest(m.items, ['n_frames']), 'again.csv');
    expect(again.items.map(({ row: _r, ...rest }) => rest)).toEqual(m.items.map(({ row: _r, ...rest }) => rest));
  });
});
