import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareVersions, compareVersionsFuzzy, isValidVersion } from '../../src/apk/version.js';
import { realApk } from './real-apk.js';

/**
 * Pairs from apk-tools' own test/version.data plus edge cases; every expected
 * answer is what the real apk 2.14.4 (`apk version -t a b`) prints, which the
 * last test re-checks live.
 */
const CASES: [string, '<' | '=' | '>', string][] = [
  ['2.34', '>', '0.1.0_alpha'],
  ['23_foo', '>', '4_beta'],
  ['1.0', '<', '1.0bc'],
  ['0.1.0_alpha', '=', '0.1.0_alpha'],
  ['0.1.0_alpha', '<', '0.1.3_alpha'],
  ['0.1.0_alpha2', '>', '0.1.0_alpha'],
  ['0.1.0_alpha', '<', '2.2.39-r1'],
  ['1.0.4-r3', '<', '1.0.4-r4'],
  ['1.1', '>', '1.1_alpha1'],
  ['1.2.1', '>', '1.2'],
  ['1.2', '<', '1.3_alpha'],
  ['1.3_alpha2', '<', '1.3_alpha3'],
  ['0.8_beta1', '<', '0.8_beta2'],
  ['2.3.0b-r1', '<', '2.3.0b-r2'],
  ['0.12.3', '>', '0.12'],
  ['0.12', '<', '0.13_beta1'],
  ['1.2.11', '<', '1.2.12.1'],
  ['0.2.0-r1', '<', '3.1_p16'],
  ['3.1_p16', '<', '3.1_p17'],
  ['1.06-r6', '<', '006'],
  ['006', '>', '1.0.0'],
  ['1.2.2-r1', '>', '1.2.2'],
  ['2.59', '<', '20050718-r1'],
  ['3.9.8-r5', '>', '2.01.01_alpha10'],
  ['1.0', '>', '0.99.3.20040818'],
  ['1.39', '>', '1.00_beta2'],
  ['4.2.52_p2-r1', '<', '4.2.52_p4-r2'],
  ['20060720', '>', '3.0.20060720'],
  ['0.7.18-r2', '<', '0.17-r6'],
  ['1.4.4-r1', '<', '2.1.9.200602141850'],
  ['2.5.1-r8', '<', '2.5.1a-r1'],
  ['1.3.5-r10', '>', '1.3.5-r8'],
  ['20040401', '>', '2.0.0_rc3-r1'],
  ['3.0.0-r2', '<', '021109-r3'],
  ['0.9.16-r1', '<', '3.9_pre20060124'],
  ['1.1.7', '<', '6b-r7'],
  ['0.10.0', '<', '0.10.1_rc1'],
  ['1.0-r1', '>', '0.15.1b'],
  ['22.7-r1', '<', '22.7.3-r1'],
  ['2.1_pre20', '<', '2.1_pre26'],
  ['2.10.1', '>', '02.08.01b'],
  ['3.81', '>', '1.6d'],
  ['1.2.07.8', '<', '1.2.12.04'],
  ['0.20070118', '<', '0.20070207_rc1'],
  ['4.5_p1-r1', '>', '4.5_p1'],
  ['0.9.8c-r1', '<', '0.9.8d'],
  ['1.7', '<', '1.7b'],
  ['1.8.5', '<', '1.8.5_p2'],
  ['2.9.11_pre20051101-r3', '>', '2.9.11_pre20051101'],
  ['0.9.28.1', '<', '087-r1'],
  ['104-r11', '>', '104-r9'],
  ['20040406-r1', '>', '2.12r-r4'],
  ['2.12r-r4', '<', '2.12r-r5'],
  ['7.0.17', '<', '7.0.174'],
  ['0.3.4_pre20061029', '<', '0.4.0'],
  ['1.3-r0', '<', '1.3.1-r0'],
  ['1.3_pre1-r1', '<', '1.3.2'],
  ['1.0_p10-r0', '>', '1.0_p9-r0'],
  ['0.1.0_alpha_pre2', '<', '0.1.0_alpha'],
  ['1.0.0_pre20191002222144-r0', '<', '1.0.0_pre20210530193627-r0'],
  // Suffix ladder and revisions.
  ['1.2_rc1', '<', '1.2'],
  ['1.2', '<', '1.2_p1'],
  ['1.2-r1', '<', '1.2_p1'],
  ['1.2_cvs', '<', '1.2_svn'],
  ['1.2_hg', '<', '1.2_p'],
  ['1.2_git20200101', '>', '1.2'],
  ['1.2a', '>', '1.2'],
  ['1.2a', '<', '1.2.1'],
  ['1.0a1', '>', '1.0a'],
  // Leading zeros and big numbers.
  ['1.05', '<', '1.1'],
  ['1.001', '<', '1.01'],
  ['01', '=', '1'],
  ['0', '=', '00'],
  ['2147483648', '>', '2147483647'],
  ['4294967296', '>', '1'],
  ['99999999999999999', '>', '99999999999999998'],
  ['999999999999999999', '<', '1'],
  ['18446744073709551617', '<', '1'],
  // Invalid versions still order.
  ['abc', '=', 'abd'],
  ['abc', '<', '1'],
  ['1.0~', '>', '1.0'],
  ['1.0~ab', '>', '1.0.1'],
  ['1.0~ab', '=', '1.0~ac'],
  ['1.2_foo', '<', '1.2'],
  ['1.2', '<', '1.2_'],
  ['1.2_', '>', '1.2_rc'],
  ['1.0-r1a', '>', '1.0-r1'],
  ['1.2-x', '>', '1.2'],
  ['1..2', '<', '1.2'],
];

const sign = (r: number): '<' | '=' | '>' => (r < 0 ? '<' : r > 0 ? '>' : '=');

test('compareVersions orders versions as apk-tools 2.14 does', () => {
  for (const [a, op, b] of CASES) {
    assert.equal(sign(compareVersions(a, b)), op, `${a} ${op} ${b}`);
    const reverse = op === '<' ? '>' : op === '>' ? '<' : '=';
    assert.equal(sign(compareVersions(b, a)), reverse, `${b} ${reverse} ${a}`);
  }
});

test('isValidVersion accepts what apk accepts', () => {
  for (const v of ['1', '1.0', '1.0a', '1.0_rc1', '1.0_p1-r3', '1.2.3_alpha_pre2', '1.0-r', '1.0_', '1..2', '20240705-r0', '3.6.5-r0']) {
    assert.equal(isValidVersion(v), true, v);
  }
  for (const v of ['abc', '1.0~', '1.0~ab', '1.2_foo', '1.0-r1a', '1.0 ', '1.0-x', '999999999999999999']) {
    assert.equal(isValidVersion(v), false, v);
  }
});

test('fuzzy comparison matches on the components the constraint has', () => {
  assert.equal(compareVersionsFuzzy('1.2.3-r1', '1.2', true), 0);
  assert.equal(compareVersionsFuzzy('1.2', '1.2', true), 0);
  assert.equal(compareVersionsFuzzy('1.3', '1.2', true), 1);
  assert.equal(compareVersionsFuzzy('1.1.9', '1.2', true), -1);
});

test('the real apk agrees on every case', { skip: realApk() === undefined && 'no minirootfs' }, () => {
  const apk = realApk()!;
  const script = CASES.map(([a, , b]) => `/sbin/apk version -t '${a}' '${b}'`).join('\n');
  const r = apk.sh(script);
  assert.equal(r.code, 0, r.stderr);
  const answers = r.stdout.trim().split('\n');
  assert.equal(answers.length, CASES.length);
  CASES.forEach(([a, op, b], i) => assert.equal(answers[i], op, `apk version -t ${a} ${b}`));
  const validity = apk.sh(
    ['1.0_p1-r3', '1.0~ab', '1.2_foo', '999999999999999999'].map((v) => `/sbin/apk version -c '${v}' >/dev/null && echo valid || echo invalid`).join('\n'),
  );
  assert.deepEqual(validity.stdout.trim().split('\n'), ['valid', 'invalid', 'invalid', 'invalid']);
});
