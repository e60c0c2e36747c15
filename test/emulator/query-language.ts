/**
 * The subset of the IoT Hub query language real migrations use: `SELECT * | paths | COUNT() [AS x]
 * FROM devices | devices.modules [WHERE …]` with = != <> < > <= >=, IN / NOT IN, AND / OR / NOT,
 * parentheses, IS_DEFINED(path), STARTS_WITH/ENDS_WITH(path, 'text') and string/number/boolean/null literals. No library parses this
 * dialect, hence the small recursive-descent parser. Unsupported syntax is a 400, as on the service.
 */
import { hubError } from "./errors";

type Json = Record<string, unknown>;
export type Value = string | number | boolean | null | undefined;

export type Condition =
  | { kind: "and" | "or"; left: Condition; right: Condition }
  | { kind: "not"; inner: Condition }
  | { kind: "cmp"; op: string; left: Operand; right: Operand }
  | { kind: "in"; negate: boolean; left: Operand; list: Operand[] }
  | { kind: "defined"; path: string[] }
  | { kind: "string"; fn: "STARTS_WITH" | "ENDS_WITH"; path: string[]; value: string }
  | { kind: "true" };

export type Operand = { kind: "path"; path: string[] } | { kind: "literal"; value: Value };

export interface ParsedQuery {
  from: "devices" | "devices.modules";
  select: { kind: "all" } | { kind: "count"; alias: string } | { kind: "paths"; paths: Array<{ path: string[]; alias: string }> };
  where: Condition;
}

interface Token {
  type: "ident" | "string" | "number" | "op" | "punct";
  text: string;
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i += 1;
      continue;
    }
    if (c === "'" || c === '"') {
      let j = i + 1;
      let out = "";
      while (j < text.length && text[j] !== c) {
        if (text[j] === "\\" && j + 1 < text.length) j += 1;
        out += text[j];
        j += 1;
      }
      if (j >= text.length) throw bad(`unterminated string starting at ${i}`);
      tokens.push({ type: "string", text: out });
      i = j + 1;
      continue;
    }
    const two = text.slice(i, i + 2);
    if (two === "<=" || two === ">=" || two === "!=" || two === "<>") {
      tokens.push({ type: "op", text: two === "<>" ? "!=" : two });
      i += 2;
      continue;
    }
    if (c === "=" || c === "<" || c === ">") {
      tokens.push({ type: "op", text: c });
      i += 1;
      continue;
    }
    if ("(),[].*".includes(c)) {
      // A dot between identifiers is part of a path; handled by the path reader below.
      tokens.push({ type: "punct", text: c });
      i += 1;
      continue;
    }
    const num = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (num && (c === "-" || /\d/.test(c))) {
      tokens.push({ type: "number", text: num[0] });
      i += num[0].length;
      continue;
    }
    const ident = /^[A-Za-z_$][A-Za-z0-9_$\-]*/.exec(text.slice(i));
    if (ident) {
      tokens.push({ type: "ident", text: ident[0] });
      i += ident[0].length;
      continue;
    }
    throw bad(`unexpected character '${c}' at ${i}`);
  }
  return tokens;
}

function bad(message: string) {
  return hubError("ArgumentInvalid", `Query syntax error: ${message}`);
}

class Parser {
  private i = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(offset = 0): Token | undefined {
    return this.tokens[this.i + offset];
  }
  private next(): Token {
    const t = this.tokens[this.i++];
    if (!t) throw bad("unexpected end of query");
    return t;
  }
  private isKeyword(word: string, offset = 0): boolean {
    const t = this.peek(offset);
    return !!t && t.type === "ident" && t.text.toUpperCase() === word;
  }
  private expectKeyword(word: string): void {
    if (!this.isKeyword(word)) throw bad(`expected ${word}`);
    this.i += 1;
  }
  private expectPunct(p: string): void {
    const t = this.next();
    if (t.type !== "punct" || t.text !== p) throw bad(`expected '${p}' but found '${t.text}'`);
  }

  parseQuery(): ParsedQuery {
    this.expectKeyword("SELECT");
    let select: ParsedQuery["select"];
    if (this.peek()?.type === "punct" && this.peek()?.text === "*") {
      this.i += 1;
      select = { kind: "all" };
    } else if (this.isKeyword("COUNT")) {
      this.i += 1;
      this.expectPunct("(");
      this.expectPunct(")");
      let alias = "$1";
      if (this.isKeyword("AS")) {
        this.i += 1;
        alias = this.next().text;
      }
      select = { kind: "count", alias };
    } else {
      const paths: Array<{ path: string[]; alias: string }> = [];
      for (;;) {
        const path = this.parsePath();
        let alias = path[path.length - 1];
        if (this.isKeyword("AS")) {
          this.i += 1;
          alias = this.next().text;
        }
        paths.push({ path, alias });
        if (this.peek()?.type === "punct" && this.peek()?.text === ",") {
          this.i += 1;
          continue;
        }
        break;
      }
      select = { kind: "paths", paths };
    }
    this.expectKeyword("FROM");
    const source = this.parsePath().join(".").toLowerCase();
    if (source !== "devices" && source !== "devices.modules") throw bad(`FROM ${source} is not supported (use devices or devices.modules)`);
    let where: Condition = { kind: "true" };
    if (this.isKeyword("WHERE")) {
      this.i += 1;
      where = this.parseOr();
    }
    if (this.peek()) throw bad(`unexpected '${this.peek()!.text}'`);
    return { from: source, select, where };
  }

  parseConditionOnly(): Condition {
    const c = this.parseOr();
    if (this.peek()) throw bad(`unexpected '${this.peek()!.text}'`);
    return c;
  }

  private parsePath(): string[] {
    const first = this.next();
    if (first.type !== "ident") throw bad(`expected a property name but found '${first.text}'`);
    const path = [first.text];
    for (;;) {
      const t = this.peek();
      if (t?.type === "punct" && t.text === ".") {
        this.i += 1;
        const seg = this.next();
        if (seg.type !== "ident" && seg.type !== "number") throw bad(`expected a property name after '.'`);
        path.push(seg.text);
      } else if (t?.type === "punct" && t.text === "[") {
        this.i += 1;
        const seg = this.next();
        if (seg.type !== "string") throw bad("expected a quoted property name in [ ]");
        path.push(seg.text);
        this.expectPunct("]");
      } else break;
    }
    return path;
  }

  private parseOr(): Condition {
    let left = this.parseAnd();
    while (this.isKeyword("OR")) {
      this.i += 1;
      left = { kind: "or", left, right: this.parseAnd() };
    }
    return left;
  }

  private parseAnd(): Condition {
    let left = this.parseNot();
    while (this.isKeyword("AND")) {
      this.i += 1;
      left = { kind: "and", left, right: this.parseNot() };
    }
    return left;
  }

  private parseNot(): Condition {
    if (this.isKeyword("NOT")) {
      this.i += 1;
      return { kind: "not", inner: this.parseNot() };
    }
    return this.parsePrimary();
  }

  private parseOperand(): Operand {
    const t = this.peek();
    if (!t) throw bad("unexpected end of query");
    if (t.type === "string") {
      this.i += 1;
      return { kind: "literal", value: t.text };
    }
    if (t.type === "number") {
      this.i += 1;
      return { kind: "literal", value: Number(t.text) };
    }
    if (t.type === "ident") {
      const up = t.text.toUpperCase();
      if (up === "TRUE" || up === "FALSE") {
        this.i += 1;
        return { kind: "literal", value: up === "TRUE" };
      }
      if (up === "NULL") {
        this.i += 1;
        return { kind: "literal", value: null };
      }
      return { kind: "path", path: this.parsePath() };
    }
    throw bad(`unexpected '${t.text}'`);
  }

  private parsePrimary(): Condition {
    const t = this.peek();
    if (t?.type === "punct" && t.text === "(") {
      this.i += 1;
      const inner = this.parseOr();
      this.expectPunct(")");
      return inner;
    }
    if ((this.isKeyword("IS_DEFINED") || this.isKeyword("IS_NULL")) && this.peek(1)?.text === "(") {
      const fn = this.next().text.toUpperCase();
      this.expectPunct("(");
      const path = this.parsePath();
      this.expectPunct(")");
      if (fn === "IS_DEFINED") return { kind: "defined", path };
      return { kind: "cmp", op: "=", left: { kind: "path", path }, right: { kind: "literal", value: null } };
    }
    if ((this.isKeyword("STARTS_WITH") || this.isKeyword("ENDS_WITH")) && this.peek(1)?.text === "(") {
      const fn = this.next().text.toUpperCase() as "STARTS_WITH" | "ENDS_WITH";
      this.expectPunct("(");
      const path = this.parsePath();
      this.expectPunct(",");
      const literal = this.next();
      if (literal.type !== "string") throw bad(`${fn} needs a quoted string as its second argument`);
      this.expectPunct(")");
      return { kind: "string", fn, path, value: literal.text };
    }
    const left = this.parseOperand();
    let negate = false;
    if (this.isKeyword("NOT") && this.isKeyword("IN", 1)) {
      this.i += 1;
      negate = true;
    }
    if (this.isKeyword("IN")) {
      this.i += 1;
      this.expectPunct("[");
      const list: Operand[] = [];
      if (!(this.peek()?.type === "punct" && this.peek()?.text === "]")) {
        for (;;) {
          list.push(this.parseOperand());
          if (this.peek()?.type === "punct" && this.peek()?.text === ",") {
            this.i += 1;
            continue;
          }
          break;
        }
      }
      this.expectPunct("]");
      return { kind: "in", negate, left, list };
    }
    const op = this.next();
    if (op.type !== "op") throw bad(`expected a comparison after '${left.kind === "path" ? left.path.join(".") : String(left.value)}'`);
    return { kind: "cmp", op: op.text, left, right: this.parseOperand() };
  }
}

export function parseQuery(text: string): ParsedQuery {
  if (typeof text !== "string" || !text.trim()) throw bad("the query is empty");
  return new Parser(tokenize(text)).parseQuery();
}

/** A bare condition, as scheduled jobs send it in `queryCondition`. */
export function parseCondition(text: string): Condition {
  if (typeof text !== "string" || !text.trim()) throw bad("the query condition is empty");
  return new Parser(tokenize(text)).parseConditionOnly();
}

export function resolvePath(doc: Json, path: string[]): Value | Json {
  let cur: unknown = doc;
  for (const seg of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    const obj = cur as Json;
    if (seg in obj) cur = obj[seg];
    else {
      // Property names match case-insensitively, as in the service's query language.
      const key = Object.keys(obj).find((k) => k.toLowerCase() === seg.toLowerCase());
      cur = key === undefined ? undefined : obj[key];
    }
  }
  return cur as Value | Json;
}

function value(doc: Json, o: Operand): unknown {
  return o.kind === "literal" ? o.value : resolvePath(doc, o.path);
}

function compare(a: unknown, b: unknown, op: string): boolean {
  if (a === undefined || b === undefined) return false;
  if (op === "=") return a === b || (typeof a === "string" && typeof b === "string" && a === b);
  if (op === "!=") return a !== b;
  if (typeof a !== typeof b || (typeof a !== "number" && typeof a !== "string")) return false;
  const x = a as number | string;
  const y = b as number | string;
  switch (op) {
    case "<":
      return x < y;
    case ">":
      return x > y;
    case "<=":
      return x <= y;
    case ">=":
      return x >= y;
  }
  return false;
}

export function matches(doc: Json, c: Condition): boolean {
  switch (c.kind) {
    case "true":
      return true;
    case "and":
      return matches(doc, c.left) && matches(doc, c.right);
    case "or":
      return matches(doc, c.left) || matches(doc, c.right);
    case "not":
      return !matches(doc, c.inner);
    case "defined":
      return resolvePath(doc, c.path) !== undefined;
    case "string": {
      const v = resolvePath(doc, c.path);
      if (typeof v !== "string") return false;
      return c.fn === "STARTS_WITH" ? v.startsWith(c.value) : v.endsWith(c.value);
    }
    case "in": {
      const v = value(doc, c.left);
      if (v === undefined) return false;
      const found = c.list.some((o) => value(doc, o) === v);
      return c.negate ? !found : found;
    }
    case "cmp":
      return compare(value(doc, c.left), value(doc, c.right), c.op);
  }
}

export function project(doc: Json, select: ParsedQuery["select"]): Json {
  if (select.kind !== "paths") return doc;
  const out: Json = {};
  for (const p of select.paths) {
    const v = resolvePath(doc, p.path);
    if (v !== undefined) out[p.alias] = v;
  }
  return out;
}
