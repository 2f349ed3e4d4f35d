/**
 * Just enough PromQL to check dashboards and alerts against a real Prometheus: a lexer, the
 * vector selectors of an expression (what must exist in the scrape for the expression to have
 * data), the expression without its threshold comparisons (what an alert measures, which returns
 * data even when the alert does not fire), and Grafana's variable substitution.
 *
 * Lexical rules from the Prometheus documentation ("Querying basics": string literals in double,
 * single or back quotes; float literals including Inf and NaN; time durations like 1h30m).
 */

export type TokenKind = 'ident' | 'string' | 'number' | 'duration' | 'op' | 'punct';

export interface Token {
  kind: TokenKind;
  text: string;
  /** Offsets of the token in the source. */
  start: number;
  end: number;
}

export class PromqlError extends Error {
  readonly code: 'PROMQL_ERR_SYNTAX' | 'PROMQL_ERR_THRESHOLD' | 'PROMQL_ERR_VARIABLE';

  constructor(code: PromqlError['code'], message: string) {
    super(message);
    this.name = 'PromqlError';
    this.code = code;
  }
}

// Longest first, so `>=` is not read as `>` then `=`.
const OPERATORS = ['==', '!=', '>=', '<=', '=~', '!~', '>', '<', '=', '+', '-', '*', '/', '%', '^', '@', ':'];
const PUNCTUATION = new Set(['(', ')', '{', '}', '[', ']', ',']);
const DURATION = /^[0-9]+(ms|s|m|h|d|w|y)([0-9]+(ms|s|m|h|d|w|y))*(?![A-Za-z0-9_])/;
const NUMBER = /^(0[xX][0-9a-fA-F]+|([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?)(?![A-Za-z0-9_:])/;
const IDENT = /^[A-Za-z_:][A-Za-z0-9_:]*/;

/** The tokens of `source`, comments and white space dropped. */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < source.length && source[i] !== '\n') i++;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < source.length && source[j] !== c) j += c !== '`' && source[j] === '\\' ? 2 : 1;
      if (j >= source.length) throw new PromqlError('PROMQL_ERR_SYNTAX', `unterminated string at ${i} in ${source}`);
      tokens.push({ kind: 'string', text: source.slice(i, j + 1), start: i, end: j + 1 });
      i = j + 1;
      continue;
    }
    const rest = source.slice(i);
    const m = DURATION.exec(rest) ?? NUMBER.exec(rest);
    if (m) {
      tokens.push({ kind: DURATION.test(rest) ? 'duration' : 'number', text: m[0], start: i, end: i + m[0].length });
      i += m[0].length;
      continue;
    }
    const id = IDENT.exec(rest);
    if (id) {
      const lower = id[0].toLowerCase();
      tokens.push({ kind: lower === 'inf' || lower === 'nan' ? 'number' : 'ident', text: id[0], start: i, end: i + id[0].length });
      i += id[0].length;
      continue;
    }
    if (PUNCTUATION.has(c)) {
      tokens.push({ kind: 'punct', text: c, start: i, end: i + 1 });
      i++;
      continue;
    }
    const op = OPERATORS.find((o) => source.startsWith(o, i));
    if (!op) throw new PromqlError('PROMQL_ERR_SYNTAX', `unexpected ${JSON.stringify(c)} at ${i} in ${source}`);
    tokens.push({ kind: 'op', text: op, start: i, end: i + op.length });
    i += op.length;
  }
  return tokens;
}

const BINARY_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'atan2']);
/** Keywords followed by a parenthesized list of label names, not expressions. */
const LABEL_LIST_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const COMPARISONS = new Set(['==', '!=', '>', '<', '>=', '<=']);

function closing(tokens: readonly Token[], open: number, source: string): number {
  const o = tokens[open]!.text;
  const c = o === '(' ? ')' : o === '{' ? '}' : ']';
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    if (tokens[i]!.text === o && tokens[i]!.kind === 'punct') depth++;
    else if (tokens[i]!.text === c && tokens[i]!.kind === 'punct') depth--;
    if (depth === 0) return i;
  }
  throw new PromqlError('PROMQL_ERR_SYNTAX', `unbalanced ${o} at ${tokens[open]!.start} in ${source}`);
}

/**
 * The vector selectors of `expr` as written: `name`, `name{matchers}` or `{matchers}`, without
 * range or offset. Function names, aggregations, keywords and label lists are not selectors.
 */
export function vectorSelectors(expr: string): string[] {
  const tokens = tokenize(expr);
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const next = tokens[i + 1];
    if (t.kind === 'ident' && LABEL_LIST_KEYWORDS.has(t.text)) {
      if (next?.text === '(') i = closing(tokens, i + 1, expr);
      continue;
    }
    if (t.kind === 'ident') {
      if (BINARY_KEYWORDS.has(t.text)) continue;
      // A call (`rate(`), or an aggregation with its grouping first (`sum by (x) (...)`).
      if (next?.text === '(' || (next?.kind === 'ident' && (next.text === 'by' || next.text === 'without'))) continue;
      if (next?.text === '{') {
        const end = closing(tokens, i + 1, expr);
        out.push(expr.slice(t.start, tokens[end]!.end));
        i = end;
      } else {
        out.push(t.text);
      }
      continue;
    }
    if (t.text === '{' && t.kind === 'punct') {
      const end = closing(tokens, i, expr);
      out.push(expr.slice(t.start, tokens[end]!.end));
      i = end;
      continue;
    }
    if (t.text === '[' && t.kind === 'punct') i = closing(tokens, i, expr);
  }
  return out;
}

/** The metric name of a selector from vectorSelectors (its name, or its `__name__` equality matcher). */
export function selectorMetric(selector: string): string | undefined {
  const m = /^([A-Za-z_:][A-Za-z0-9_:]*)/.exec(selector);
  if (m) return m[1];
  const byLabel = /__name__\s*=\s*"([^"]+)"/.exec(selector);
  return byLabel?.[1];
}

/** Every metric name `expr` reads. */
export function metricNames(expr: string): string[] {
  return [...new Set(vectorSelectors(expr).map(selectorMetric).filter((n): n is string => n !== undefined))];
}

/**
 * `expr` with every comparison against a number literal removed (`x > 4` becomes `x`): what an
 * alert measures. Comparisons inside label matchers are matchers and stay. A threshold that is
 * not a plain number (`x > 4 * 2`, `x > y`) is refused, so nothing is silently half-stripped.
 */
export function stripThresholds(expr: string): string {
  const tokens = tokenize(expr);
  const cuts: [number, number][] = [];
  let braces = 0;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind === 'punct' && t.text === '{') braces++;
    if (t.kind === 'punct' && t.text === '}') braces--;
    if (braces > 0 || t.kind !== 'op' || !COMPARISONS.has(t.text)) continue;
    let j = i + 1;
    if (tokens[j]?.kind === 'ident' && tokens[j]!.text === 'bool') j++;
    if (tokens[j]?.kind === 'op' && (tokens[j]!.text === '-' || tokens[j]!.text === '+')) j++;
    const value = tokens[j];
    const after = tokens[j + 1];
    if (value?.kind !== 'number' || (after !== undefined && after.kind === 'op')) {
      throw new PromqlError('PROMQL_ERR_THRESHOLD', `comparison at ${t.start} is not against a plain number: ${expr}`);
    }
    cuts.push([t.start, value.end]);
    i = j;
  }
  let out = expr;
  for (const [start, end] of cuts.reverse()) out = `${out.slice(0, start)}${out.slice(end)}`;
  return out;
}

/** Grafana's variable syntaxes: $name, ${name}, ${name:format}, [[name]]. */
const VARIABLE = /\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\$([A-Za-z0-9_]+)|\[\[([A-Za-z0-9_]+)(?::[^\]]*)?\]\]/g;

/** The variable names `text` uses. */
export function variablesUsed(text: string): string[] {
  return [...new Set([...text.matchAll(VARIABLE)].map((m) => (m[1] ?? m[2] ?? m[3])!))];
}

/** `text` with every variable replaced from `values`; an unknown variable is an error. */
export function substituteVariables(text: string, values: Readonly<Record<string, string>>): string {
  return text.replace(VARIABLE, (whole, a: string | undefined, b: string | undefined, c: string | undefined) => {
    const name = (a ?? b ?? c)!;
    const value = values[name];
    if (value === undefined) throw new PromqlError('PROMQL_ERR_VARIABLE', `no value for variable ${whole} in ${text}`);
    return value;
  });
}
