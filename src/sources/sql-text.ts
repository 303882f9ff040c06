/**
 * Makes sure a configured query is one statement: a `;` outside quotes and comments may only be
 * followed by whitespace, comments or more `;`. Returns the statement without its trailing `;`.
 * (The server's simple-query protocol would otherwise run `commit; delete …` after our
 * `begin read only`.) Understands '…' (and E'…'), "…", $tag$…$tag$, -- and nested /* *\/.
 */
export function singleStatement(text: string, what = 'the query'): string {
  const n = text.length;
  let end = -1;
  let i = 0;
  let seen = false;
  const isIdent = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_$]/.test(c);
  const content = () => {
    if (end >= 0) throw new Error(`${what} must be a single statement (found more after the ";")`);
    seen = true;
  };
  while (i < n) {
    const c = text[i];
    if (c === '-' && text[i + 1] === '-') {
      const nl = text.indexOf('\n', i);
      i = nl < 0 ? n : nl + 1;
    } else if (c === '/' && text[i + 1] === '*') {
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
    } else if (c === "'") {
      content();
      const escapes = (text[i - 1] === 'E' || text[i - 1] === 'e') && !isIdent(text[i - 2]);
      i++;
      while (i < n) {
        if (escapes && text[i] === '\\') i += 2;
        else if (text[i] === "'" && text[i + 1] === "'") i += 2;
        else if (text[i] === "'") break;
        else i++;
      }
      i++;
    } else if (c === '"') {
      content();
      i++;
      while (i < n) {
        if (text[i] === '"' && text[i + 1] === '"') i += 2;
        else if (text[i] === '"') break;
        else i++;
      }
      i++;
    } else if (c === '$' && !isIdent(text[i - 1]) && /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/.test(text.slice(i))) {
      content();
      const tag = /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i))![0];
      const close = text.indexOf(tag, i + tag.length);
      i = close < 0 ? n : close + tag.length;
    } else if (c === ';') {
      if (end < 0) end = i;
      i++;
    } else {
      if (!/\s/.test(c)) content();
      i++;
    }
  }
  if (!seen) throw new Error(`${what} is empty`);
  return (end >= 0 ? text.slice(0, end) : text).trim();
}
