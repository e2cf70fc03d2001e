/*
 * GDSI logic engine for the browser: evaluates the logic AST of docs/logic.md.
 *
 * The server parses REDCap logic once (casereports/logic/parser.py) and sends the AST as JSON;
 * this file only walks it, with the same rules as the Python engine (casereports/logic/
 * evaluate.py) and the SQL compiler. No eval, no Function constructor, no dependencies.
 * The conformance file tests/logic/conformance.jsonl runs against it under node in CI.
 */
(function (root) {
  "use strict";

  var NUMERIC_TEXT = /^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$/;
  var TIME = "(?: ([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?)?";
  var DATE_PATTERNS = {
    ymd: new RegExp("^([0-9]{4})-([0-9]{2})-([0-9]{2})" + TIME + "$"),
    mdy: new RegExp("^([0-9]{2})-([0-9]{2})-([0-9]{4})" + TIME + "$"),
    dmy: new RegExp("^([0-9]{2})-([0-9]{2})-([0-9]{4})" + TIME + "$"),
  };
  var DATE_ORDER = { ymd: [0, 1, 2], mdy: [2, 0, 1], dmy: [2, 1, 0] };
  var SECONDS_PER_UNIT = {
    y: 86400 * 365.2425, M: 86400 * 30.44, d: 86400.0, h: 3600.0, m: 60.0, s: 1.0,
  };
  var TRIMMED = " \t\r\n";

  // --- values (rules 1, 5, 6, 9, 10) -------------------------------------------------------

  function isBlank(value) {
    return value === null || value === undefined || value === "";
  }

  function toNumber(value) {
    if (typeof value === "boolean") return value ? 1 : 0;
    if (typeof value === "number") return value;
    if (typeof value === "string" && NUMERIC_TEXT.test(value)) return Number(value);
    return null;
  }

  function isTrue(value) {
    var number = toNumber(value);
    return number !== null && number !== 0;
  }

  function finiteOrBlank(number) {
    return isFinite(number) ? number : "";
  }

  // The number rounded to 15 significant digits as {negative, digits: BigInt, exponent}, so that
  // value = digits * 10^exponent.
  function decimalParts(number) {
    var text = Math.abs(number).toExponential(14);
    var mark = text.indexOf("e");
    var digits = text.slice(0, mark).replace(".", "");
    return {
      negative: number < 0,
      digits: BigInt(digits),
      exponent: Number(text.slice(mark + 1)) - 14,
    };
  }

  function plainDecimal(negative, digits, exponent) {
    if (digits === 0n) return "0";
    var text = digits.toString();
    if (exponent >= 0) {
      text = text + "0".repeat(exponent);
    } else {
      var places = -exponent;
      if (text.length <= places) text = "0".repeat(places - text.length + 1) + text;
      text = text.slice(0, text.length - places) + "." + text.slice(text.length - places);
      text = text.replace(/0+$/, "").replace(/\.$/, "");
    }
    return (negative ? "-" : "") + text;
  }

  function formatNumber(number) {
    if (!isFinite(number)) return "";
    var parts = decimalParts(number);
    return plainDecimal(parts.negative, parts.digits, parts.exponent);
  }

  function toText(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "boolean") return value ? "1" : "0";
    if (typeof value === "number") return formatNumber(value);
    return String(value);
  }

  function asciiLower(text) {
    return text.replace(/[A-Z]/g, function (c) { return c.toLowerCase(); });
  }

  function asciiUpper(text) {
    return text.replace(/[a-z]/g, function (c) { return c.toUpperCase(); });
  }

  function codePoints(text) {
    return Array.from(text);
  }

  function compareCodePoints(left, right) {
    var a = codePoints(left);
    var b = codePoints(right);
    for (var i = 0; i < Math.min(a.length, b.length); i += 1) {
      var difference = a[i].codePointAt(0) - b[i].codePointAt(0);
      if (difference !== 0) return difference;
    }
    return a.length - b.length;
  }

  // Rule 10: YYYY-MM-DD with optional " HH:MM[:SS]"; mdy/dmy also accept their own order.
  // Returns milliseconds since the epoch (UTC), or null.
  function parseDate(text, format) {
    var candidates = format === "ymd" || !format ? ["ymd"] : ["ymd", format];
    for (var c = 0; c < candidates.length; c += 1) {
      var name = candidates[c];
      var match = DATE_PATTERNS[name].exec(text);
      if (!match) continue;
      var order = DATE_ORDER[name];
      var year = Number(match[1 + order[0]]);
      var month = Number(match[1 + order[1]]);
      var day = Number(match[1 + order[2]]);
      var hour = match[4] ? Number(match[4]) : 0;
      var minute = match[5] ? Number(match[5]) : 0;
      var second = match[6] ? Number(match[6]) : 0;
      if (year < 1 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) {
        return null;
      }
      var moment = new Date(0);
      moment.setUTCFullYear(year, month - 1, day);
      if (moment.getUTCMonth() !== month - 1 || moment.getUTCDate() !== day) return null;
      return moment.getTime() + ((hour * 60 + minute) * 60 + second) * 1000;
    }
    return null;
  }

  // --- operators ---------------------------------------------------------------------------

  function equals(left, right) {
    if (isBlank(left) || isBlank(right)) return isBlank(left) && isBlank(right);
    var a = toNumber(left);
    var b = toNumber(right);
    if (a !== null && b !== null) return a === b;
    return toText(left) === toText(right);
  }

  function ordered(test) {
    return function (left, right) {
      if (isBlank(left) || isBlank(right)) return false;
      var a = toNumber(left);
      var b = toNumber(right);
      if (a !== null && b !== null) return test(a < b ? -1 : a > b ? 1 : 0);
      return test(compareCodePoints(toText(left), toText(right)));
    };
  }

  var COMPARE = {
    "=": equals,
    "<>": function (l, r) { return !equals(l, r); },
    "<": ordered(function (c) { return c < 0; }),
    "<=": ordered(function (c) { return c <= 0; }),
    ">": ordered(function (c) { return c > 0; }),
    ">=": ordered(function (c) { return c >= 0; }),
  };

  var ARITHMETIC = {
    "+": function (a, b) { return a + b; },
    "-": function (a, b) { return a - b; },
    "*": function (a, b) { return a * b; },
    "/": function (a, b) { return b === 0 ? "" : a / b; },
    "^": function (a, b) { return Math.pow(a, b); },
  };

  function arithmetic(operation, left, right) {
    var a = toNumber(left);
    var b = toNumber(right);
    if (a === null || b === null) return "";
    var result = operation(a, b);
    return result === "" ? "" : finiteOrBlank(result);
  }

  // --- functions ---------------------------------------------------------------------------

  function numeric(fn) {
    return function () {
      var numbers = [];
      for (var i = 0; i < arguments.length; i += 1) {
        var number = toNumber(arguments[i]);
        if (number === null || !isFinite(number)) return "";
        numbers.push(number);
      }
      var result = fn.apply(null, numbers);
      return result === "" ? "" : finiteOrBlank(result);
    };
  }

  function sum(numbers) {
    var total = 0;
    for (var i = 0; i < numbers.length; i += 1) total += numbers[i];
    return total;
  }

  function aggregate(fn, minimum) {
    return function () {
      var numbers = [];
      for (var i = 0; i < arguments.length; i += 1) {
        var number = toNumber(arguments[i]);
        if (number !== null) numbers.push(number);
      }
      if (numbers.length < (minimum || 1)) return "";
      return finiteOrBlank(fn(numbers));
    };
  }

  function median(numbers) {
    var sorted = numbers.slice().sort(function (a, b) { return a - b; });
    var middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  }

  function stdev(numbers) {
    var mean = sum(numbers) / numbers.length;
    var squares = sum(numbers.map(function (n) { return Math.pow(n - mean, 2); }));
    return Math.sqrt(squares / (numbers.length - 1));
  }

  // round/roundup/rounddown on the 15-significant-digit decimal (round(2.675, 2) = 2.68).
  function rounding(mode) {
    return numeric(function (number, digits) {
      var places = Math.max(Math.min(Math.trunc(digits === undefined ? 0 : digits), 400), -400);
      var parts = decimalParts(number);
      var shift = parts.exponent + places;
      var quotient = parts.digits;
      if (shift < 0) {
        var divisor = 10n ** BigInt(-shift);
        var remainder = parts.digits % divisor;
        quotient = parts.digits / divisor;
        if ((mode === "half" && remainder * 2n >= divisor) || (mode === "up" && remainder > 0n)) {
          quotient += 1n;
        }
        shift = 0;
      }
      var text = (parts.negative ? "-" : "") + quotient.toString() + "e" + (shift - places);
      return Number(text);
    });
  }

  function log(number, base) {
    if (number <= 0 || (base !== undefined && (base <= 0 || base === 1))) return "";
    return base === undefined ? Math.log(number) : Math.log(number) / Math.log(base);
  }

  function textTest(test) {
    return function (haystack, needle) {
      return test(asciiLower(toText(haystack)), asciiLower(toText(needle)));
    };
  }

  function count(value) {
    var number = toNumber(value);
    return number === null || !isFinite(number) ? null : Math.trunc(number);
  }

  function trim(text) {
    var start = 0;
    var end = text.length;
    while (start < end && TRIMMED.indexOf(text[start]) >= 0) start += 1;
    while (end > start && TRIMMED.indexOf(text[end - 1]) >= 0) end -= 1;
    return text.slice(start, end);
  }

  function find(needle, haystack) {
    var points = codePoints(asciiLower(toText(haystack)));
    var wanted = codePoints(asciiLower(toText(needle)));
    outer: for (var i = 0; i + wanted.length <= points.length; i += 1) {
      for (var j = 0; j < wanted.length; j += 1) {
        if (points[i + j] !== wanted[j]) continue outer;
      }
      return i + 1;
    }
    return 0;
  }

  function left(text, n) {
    var length = count(n);
    return length === null ? "" : codePoints(toText(text)).slice(0, Math.max(length, 0)).join("");
  }

  function right(text, n) {
    var length = count(n);
    if (length === null || length <= 0) return "";
    var points = codePoints(toText(text));
    return points.slice(Math.max(points.length - length, 0)).join("");
  }

  function mid(text, start, n) {
    var first = count(start);
    var length = count(n);
    if (first === null || length === null) return "";
    first = Math.max(first, 1) - 1;
    return codePoints(toText(text)).slice(first, first + Math.max(length, 0)).join("");
  }

  function replaceText(haystack, search, replacement) {
    var text = toText(haystack);
    var pattern = toText(search);
    return pattern === "" ? text : text.split(pattern).join(toText(replacement));
  }

  function datePart(part) {
    return function (value) {
      var moment = parseDate(toText(value), "ymd");
      if (moment === null) return "";
      var date = new Date(moment);
      return part === "year" ? date.getUTCFullYear()
        : part === "month" ? date.getUTCMonth() + 1 : date.getUTCDate();
    };
  }

  function datediff(args, context) {
    var units = toText(args[2]);
    var format = args.length > 3 ? toText(args[3]) : "ymd";
    var signed = args.length > 4 && isTrue(args[4]);
    if (!Object.prototype.hasOwnProperty.call(SECONDS_PER_UNIT, units)) return "";
    if (!Object.prototype.hasOwnProperty.call(DATE_ORDER, format)) return "";
    var first = datediffMoment(args[0], format, context);
    var second = datediffMoment(args[1], format, context);
    if (first === null || second === null) return "";
    var difference = (second - first) / 1000 / SECONDS_PER_UNIT[units];
    return signed ? difference : Math.abs(difference);
  }

  function datediffMoment(value, format, context) {
    var text = toText(value);
    var keyword = asciiLower(text);
    if (keyword === "today") return context.today;
    if (keyword === "now") return context.now;
    return parseDate(text, format);
  }

  var FUNCTIONS = {
    round: rounding("half"),
    roundup: rounding("up"),
    rounddown: rounding("down"),
    abs: numeric(Math.abs),
    sqrt: numeric(function (x) { return x < 0 ? "" : Math.sqrt(x); }),
    exponential: numeric(Math.exp),
    log: numeric(log),
    mod: numeric(function (a, b) { return b === 0 ? "" : a % b; }),
    sum: aggregate(sum),
    min: aggregate(function (n) { return Math.min.apply(null, n); }),
    max: aggregate(function (n) { return Math.max.apply(null, n); }),
    mean: aggregate(function (n) { return sum(n) / n.length; }),
    median: aggregate(median),
    stdev: aggregate(stdev, 2),
    isnumber: function (v) { return toNumber(v) !== null; },
    isinteger: function (v) { var n = toNumber(v); return n !== null && Number.isInteger(n); },
    contains: textTest(function (h, n) { return h.indexOf(n) >= 0; }),
    not_contain: textTest(function (h, n) { return h.indexOf(n) < 0; }),
    starts_with: textTest(function (h, n) { return h.slice(0, n.length) === n; }),
    ends_with: textTest(function (h, n) { return n === "" || h.slice(-n.length) === n; }),
    find: find,
    left: left,
    right: right,
    mid: mid,
    length: function (t) { return codePoints(toText(t)).length; },
    trim: function (t) { return trim(toText(t)); },
    upper: function (t) { return asciiUpper(toText(t)); },
    lower: function (t) { return asciiLower(toText(t)); },
    replace_text: replaceText,
    concat: function () { return Array.prototype.map.call(arguments, toText).join(""); },
    concat_ws: function (separator) {
      var parts = Array.prototype.slice.call(arguments, 1).filter(function (v) { return !isBlank(v); });
      return parts.map(toText).join(toText(separator));
    },
    year: datePart("year"),
    month: datePart("month"),
    day: datePart("day"),
  };

  // --- the walker --------------------------------------------------------------------------

  function fieldValue(node, record) {
    if (node.code === undefined || node.code === null) return recordText(record[node.name]);
    var option = recordText(record[node.name + "___" + node.code]);
    return option === "" ? "0" : option;
  }

  function recordText(value) {
    return typeof value === "string" ? value : toText(value);
  }

  function walk(node, context) {
    switch (node.t) {
      case "num":
      case "str":
      case "bool":
        return node.v;
      case "field":
        return fieldValue(node, context.record);
      case "neg": {
        var operand = toNumber(walk(node.e, context));
        return operand === null ? "" : -operand;
      }
      case "not":
        return !isTrue(walk(node.e, context));
      case "bin":
        return binary(node, context);
      case "call":
        return call(node, context);
      default:
        throw new Error("not a logic AST node: " + JSON.stringify(node).slice(0, 80));
    }
  }

  function binary(node, context) {
    if (node.op === "and") return isTrue(walk(node.l, context)) && isTrue(walk(node.r, context));
    if (node.op === "or") return isTrue(walk(node.l, context)) || isTrue(walk(node.r, context));
    var leftValue = walk(node.l, context);
    var rightValue = walk(node.r, context);
    if (Object.prototype.hasOwnProperty.call(COMPARE, node.op)) {
      return COMPARE[node.op](leftValue, rightValue);
    }
    if (Object.prototype.hasOwnProperty.call(ARITHMETIC, node.op)) {
      return arithmetic(ARITHMETIC[node.op], leftValue, rightValue);
    }
    throw new Error("unknown operator " + node.op);
  }

  function call(node, context) {
    if (node.fn === "if") {
      var chosen = isTrue(walk(node.args[0], context)) ? node.args[1] : node.args[2];
      return walk(chosen, context);
    }
    var args = node.args.map(function (arg) { return walk(arg, context); });
    if (node.fn === "datediff") return datediff(args, context);
    if (!Object.prototype.hasOwnProperty.call(FUNCTIONS, node.fn)) {
      throw new Error("unknown function " + node.fn);
    }
    return FUNCTIONS[node.fn].apply(null, args);
  }

  /** Evaluate an AST on a record of REDCap-style strings; blank is "". */
  function evaluate(ast, record, options) {
    var nowMs = options && options.now !== undefined ? options.now : Date.now();
    nowMs = Math.floor(nowMs / 1000) * 1000;
    var todayMs = Math.floor(nowMs / 86400000) * 86400000;
    return walk(ast, { record: record || {}, today: todayMs, now: nowMs });
  }

  /** The field names an AST reads (a checkbox option [x(2)] reads x). */
  function fieldsOf(ast) {
    var names = {};
    (function visit(node) {
      if (!node || typeof node !== "object") return;
      if (node.t === "field") names[node.name] = true;
      ["e", "l", "r"].forEach(function (key) { visit(node[key]); });
      (node.args || []).forEach(visit);
    })(ast);
    return Object.keys(names);
  }

  var api = { evaluate: evaluate, toText: toText, isTrue: isTrue, fieldsOf: fieldsOf };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.GDSILogic = api;
})(typeof window !== "undefined" ? window : this);
