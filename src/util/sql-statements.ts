/** SQL text, split the way the server would see statements (one lexer for the CLI and the sql source). */

/** The index after the quoted run that opens at `open` (text[open] is the quote). */
function afterQuoted(text: string, open: number, quote: string, backslashes: boolean): number {
  let i = open + 1;
  while (i < text.length) {
    if (backslashes && text[i] === '\\') {
      i += 2;
      continue;
    }
    if (text[i] === quote) {
      if (text[i + 1] !== quote) break;
      i += 2;
      continue;
    }
    i++;
  }
  return i + 1;
}

/**
 * Splits SQL text at top-level semicolons, skipping '…' and E'…' strings, "…" identifiers,
 * $tag$…$tag$ bodies and -- and nested /* comments. Statements with nothing but whitespace and
 * comments are dropped.
 */
export function splitStatements(text: string): string[] {
  const out: string[] = [];
  const n = text.length;
  const ident = /[A-Za-z0-9_$\u0080-\uffff]/;
  let start = 0;
  let hasCode = false;
  let i = 0;
  while (i < n) {
    const c = text[i];
    const next = text[i + 1];
    if (c === '-' && next === '-') {
      const j = text.indexOf('\n', i);
      i = j < 0 ? n : j + 1;
      continue;
    }
    if (c === '/' && next === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (text[i] === '/' && text[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (text[i] === '*' && text[i + 1] === '/') {
          depth--;
          i += 2;
        } else i++;
      }
      continue;
    }
    if (c === "'" || c === '"') {
      // E'…' strings also escape with backslashes; '' and "" stand for one quote inside.
      const backslashes = c === "'" && /[eE]/.test(text[i - 1] ?? '') && !ident.test(text[i - 2] ?? '');
      i = afterQuoted(text, i, c, backslashes);
      hasCode = true;
      continue;
    }
    if (c === '$' && !ident.test(text[i - 1] ?? '')) {
      const m = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(text.slice(i, i + 70));
      if (m) {
        const end = text.indexOf(m[0], i + m[0].length);
        i = end < 0 ? n : end + m[0].length;
        hasCode = true;
        continue;
      }
    }
    if (c === ';') {
      if (hasCode) out.push(text.slice(start, i).trim());
      start = i + 1;
      hasCode = false;
      i++;
      continue;
    }
    if (!/\s/.test(c)) hasCode = true;
    i++;
  }
  if (hasCode) out.push(text.slice(start).trim());
  return out;
}

/**
 * Makes sure a configured query is one statement and returns it without its trailing `;`. The
 * server's simple-query protocol would otherwise run `commit; delete …` after a `begin read only`.
 */
export function singleStatement(text: string, what = 'the query'): string {
  const statements = splitStatements(text);
  if (statements.length === 0) throw new Error(`${what} is empty`);
  if (statements.length > 1) throw new Error(`${what} must be a single statement (found more after the ";")`);
  return statements[0];
}
