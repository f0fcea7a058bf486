// RE2 patterns (buf.validate's string.pattern and CEL's matches()) run as
// JavaScript regular expressions, so a browser build need not carry an RE2
// engine: @bufbuild/re2 is ~16 KB of the field screens' 150 KB gzipped
// budget. The server (protovalidate-go) stays the authority; this only
// decides what a form tells before a push.
//
// Only a subset of RE2 is translated, one whose meaning is the same in both
// engines once its shorthands are spelled out (RE2's \s, \d, \w and \b are
// ASCII; its "." is any character but a newline). Anything else is refused
// with an error, never guessed at: test/regex.test.ts translates every
// pattern of the SDK's schemas and checks each against RE2 itself. A group
// holding an unbounded quantifier (*, +, {n,}) may not itself repeat (only
// "?" or {0,1}): that nesting is the source of a backtracking engine's
// exponential cases, so a translated pattern runs in polynomial time.

/** Thrown for a pattern outside the translated subset of RE2. */
export class UntranslatableRegexError extends Error {
  constructor(pattern: string, why: string) {
    super(`regex ${JSON.stringify(pattern)}: ${why} (outside the subset of RE2 the SDK runs as a JavaScript RegExp)`);
    this.name = "UntranslatableRegexError";
  }
}

const cacheLimit = 1024;
const cache = new Map<string, RegExp>();

/**
 * Tells whether against matches the RE2 pattern (unanchored, as RE2's
 * MatchString). A RegexMatcher for protovalidate's createValidator.
 */
export function jsRegexMatch(pattern: string, against: string): boolean {
  let re = cache.get(pattern);
  if (re === undefined) {
    if (cache.size >= cacheLimit) cache.clear(); // CEL may build patterns from data
    re = new RegExp(translateRE2(pattern), "u");
    cache.set(pattern, re);
  }
  return re.test(against);
}

const SPACE = "\\t\\n\\f\\r ";
const DIGIT = "0-9";
const WORD = "0-9A-Za-z_";
const CLASS_OF: Record<string, string> = {
  d: `[${DIGIT}]`, D: `[^${DIGIT}]`, s: `[${SPACE}]`, S: `[^${SPACE}]`, w: `[${WORD}]`, W: `[^${WORD}]`,
};
const IN_CLASS: Record<string, string> = { d: DIGIT, s: SPACE, w: WORD };
const CONTROL: Record<string, number> = { a: 7, f: 12, t: 9, n: 10, r: 13, v: 11 };

/** A code point as a JavaScript (u-flag) escape: never a metacharacter, in or out of a class. */
const lit = (cp: number) => `\\u{${cp.toString(16)}}`;

/** Translates an RE2 pattern of the supported subset to a JavaScript pattern for the "u" flag. */
export function translateRE2(pattern: string): string {
  const cps = Array.from(pattern, (c) => c.codePointAt(0)!);
  let i = 0;
  const fail = (why: string): never => {
    throw new UntranslatableRegexError(pattern, why);
  };
  const peek = () => (i < cps.length ? String.fromCodePoint(cps[i]) : "");

  // An escape's code point after the backslash (\xHH, \x{H…}, \a…), or a Perl class's letter.
  const escape = (): { cp: number } | { cls: string } | { assert: string } => {
    if (i >= cps.length) fail("trailing backslash");
    const c = String.fromCodePoint(cps[i++]);
    if (c in CLASS_OF) return { cls: c };
    if (c in CONTROL) return { cp: CONTROL[c] };
    if (c === "b" || c === "B") return { assert: `\\${c}` };
    if (c === "A") return { assert: "^" };
    if (c === "z") return { assert: "$" };
    if (c === "x") {
      let hex = "";
      if (peek() === "{") {
        i++;
        while (i < cps.length && peek() !== "}") hex += String.fromCodePoint(cps[i++]);
        if (peek() !== "}") fail("unterminated \\x{");
        i++;
      } else {
        hex = String.fromCodePoint(...cps.slice(i, i + 2));
        i += 2;
      }
      if (!/^[0-9A-Fa-f]{1,6}$/.test(hex) || parseInt(hex, 16) > 0x10ffff) fail(`bad hex escape \\x${hex}`);
      return { cp: parseInt(hex, 16) };
    }
    // RE2 lets any punctuation be escaped to stand for itself; letters and digits are classes, flags or errors.
    if (/^[!-\/:-@\[-`{-~]$/.test(c)) return { cp: c.codePointAt(0)! };
    return fail(`escape \\${c}`);
  };

  // [ … ] after its "[": the class in JavaScript syntax.
  const charClass = (): string => {
    let out = "[";
    if (peek() === "^") {
      out += "^";
      i++;
    }
    let first = true;
    // One end of a range, or a whole item: a code point or a Perl class's body.
    const item = (): { cp: number } | { body: string } => {
      const c = peek();
      i++;
      if (c === "[" && peek() === ":") fail("POSIX class");
      if (c !== "\\") return { cp: cps[i - 1] };
      const e = escape();
      if ("cp" in e) return e;
      if ("cls" in e && e.cls in IN_CLASS) return { body: IN_CLASS[e.cls] };
      return fail("negated or assertion escape in a class");
    };
    for (;;) {
      if (i >= cps.length) fail("unterminated class");
      if (peek() === "]" && !first) break;
      first = false;
      const lo = item();
      if (peek() === "-" && i + 1 < cps.length && String.fromCodePoint(cps[i + 1]) !== "]") {
        i++;
        const hi = item();
        if (!("cp" in lo) || !("cp" in hi)) fail("class in a range");
        const [a, b] = [(lo as { cp: number }).cp, (hi as { cp: number }).cp];
        if (a > b) fail("range out of order");
        out += `${lit(a)}-${lit(b)}`;
      } else {
        out += "cp" in lo ? lit(lo.cp) : lo.body;
      }
    }
    i++; // "]"
    return out + "]";
  };

  // A sequence of alternatives up to ")" or the end; unbounded tells whether it holds a *, + or {n,}.
  const alternation = (depth: number): { src: string; unbounded: boolean } => {
    let src = "";
    let unbounded = false;
    let atom = ""; // the last atom, still open to a quantifier
    let atomUnbounded = false;
    let canQuantify = false;
    for (;;) {
      if (i >= cps.length) break;
      const c = peek();
      if (c === ")") {
        if (depth === 0) fail("unbalanced )");
        break;
      }
      if (c === "*" || c === "+" || c === "?" || c === "{") {
        let q = "";
        let [lo, hi] = c === "*" ? [0, Infinity] : c === "+" ? [1, Infinity] : [0, 1];
        if (c === "{") {
          const m = /^\{(\d+)(,(\d*))?\}/.exec(String.fromCodePoint(...cps.slice(i)));
          if (!m) fail("{ that is not a repeat");
          [lo, hi] = [Number(m![1]), m![3] === undefined ? Number(m![1]) : m![3] === "" ? Infinity : Number(m![3])];
          if (lo > 1000 || (hi !== Infinity && (hi > 1000 || hi < lo))) fail("bad repeat count");
          q = m![0];
          i += m![0].length;
        } else {
          q = c;
          i++;
        }
        if (!canQuantify) fail(`${q} with nothing to repeat`);
        if (atomUnbounded && hi > 1) fail("nested quantifiers");
        if (peek() === "?") {
          q += "?";
          i++;
        }
        if (peek() === "*" || peek() === "+" || peek() === "?" || peek() === "{") fail("repeated quantifier");
        src += atom + q;
        atom = "";
        canQuantify = false;
        unbounded ||= hi === Infinity;
        continue;
      }
      src += atom;
      atom = "";
      atomUnbounded = false;
      canQuantify = true;
      i++;
      if (c === "|") {
        src += "|";
        canQuantify = false;
      } else if (c === "(") {
        if (peek() === "?") {
          const rest = String.fromCodePoint(...cps.slice(i, i + 3));
          if (rest.startsWith("?:")) i += 2;
          else if (rest === "?P<") {
            while (i < cps.length && peek() !== ">") i++;
            i++;
          } else fail("group flags");
        }
        const inner = alternation(depth + 1);
        if (peek() !== ")") fail("unbalanced (");
        i++;
        atom = `(?:${inner.src})`;
        atomUnbounded = inner.unbounded;
        unbounded ||= inner.unbounded;
      } else if (c === "[") {
        atom = charClass();
      } else if (c === "\\") {
        const e = escape();
        if ("cp" in e) atom = lit(e.cp);
        else if ("cls" in e) atom = CLASS_OF[e.cls];
        else {
          src += e.assert;
          canQuantify = false;
        }
      } else if (c === ".") {
        atom = "[^\\n]";
      } else if (c === "^" || c === "$") {
        src += c;
        canQuantify = false;
      } else {
        atom = lit(cps[i - 1]);
      }
    }
    return { src: src + atom, unbounded };
  };

  const { src } = alternation(0);
  if (i < cps.length) fail("unbalanced )");
  return src;
}
