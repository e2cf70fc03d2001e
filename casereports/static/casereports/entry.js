/*
 * Live data entry on a case form page (templates/cases/form.html).
 *
 * Branching, calc fields and range checks run as the person types, on the same ASTs the server
 * evaluates (logic.js walks them; nothing is ever eval'd). The record they run on is the whole
 * case (every form's saved values, passed as #entry-record) with this page's live inputs on top,
 * settled the way casereports/entry.py settles it: calcs recomputed, hidden questions emptied,
 * until nothing changes. A question branching hides is emptied in the page too (so the form
 * never submits a value that no longer applies) and listed as "will be cleared"; its value is
 * put back if it is shown again before saving. The server decides what is stored.
 *
 * The dictionary version's quality rules of kind "check" (spec.checks: parsed ASTs) run on the
 * same settled record. Each rule is evaluated on its own (as casereports/quality/checks.py does
 * for the clinician), and a failing one is a warning, never a refusal: its words, after the
 * template's translated lead (#quality-warning-template), appear beside every question of this
 * page the rule names, in a polite live region the question's aria-describedby points to.
 *
 * Unsaved input is mirrored into sessionStorage (key: prefix:secret_name:form:version), so a
 * session that expires while someone types loses nothing: after logging in again the page
 * puts it back and says so. The copy goes after a successful save and on "Log out".
 */
(function () {
  "use strict";

  var NUMBER = /^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$/;
  var INTEGER = /^[-+]?[0-9]+$/;
  var MAX_PASSES = 20;
  var CONFIRM_PREFIX = "confirm__";
  var NOT_STORED = { csrfmiddlewaretoken: true, version: true, action: true };
  var CHOICE_TYPES = { radio: true, yesno: true, truefalse: true };

  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  var spec = readJson("entry-spec");
  var savedRecord = readJson("entry-record") || {};
  var form = document.getElementById("entry-form");
  var logic = window.GDSILogic;
  if (!spec || !form || !logic) return;

  var storageKey = [spec.storagePrefix, spec.secretName, spec.form, spec.version].join(":");
  var fields = spec.fields;
  var stash = {}; // values taken out of questions branching hid, put back if shown again
  var pendingCleared = {}; // name -> label: saved answers the next save will clear
  var touched = {}; // questions changed since the page loaded
  var initialState = null;

  function each(list, callback) {
    Array.prototype.forEach.call(list, callback);
  }

  function controls(name) {
    return Array.prototype.slice.call(form.querySelectorAll('[name="' + name + '"]'));
  }

  function wrapperOf(field) {
    return document.getElementById("field-" + field.name);
  }

  function evaluate(ast, record) {
    try {
      return logic.evaluate(ast, record);
    } catch (problem) {
      return ""; // the server refuses logic it cannot run; an unknown node is blank here
    }
  }

  function isShown(ast, record) {
    return !ast || logic.isTrue(evaluate(ast, record));
  }

  // --- reading and writing one question ----------------------------------------------------

  function isChoice(field) {
    return field.type === "checkbox" || CHOICE_TYPES[field.type] === true;
  }

  function checkedCodes(field) {
    return controls(field.name)
      .filter(function (node) { return node.checked; })
      .map(function (node) { return node.value; });
  }

  function rawValue(field) {
    if (isChoice(field)) return checkedCodes(field).join(",");
    var node = controls(field.name)[0];
    return node ? node.value : "";
  }

  function storedValue(field, raw) {
    if (field.kind === "datetime") return raw.replace("T", " ");
    if (field.comma) return raw.replace(",", ".");
    return raw;
  }

  function putInRecord(field, record) {
    if (field.type === "checkbox") {
      var checked = checkedCodes(field);
      field.codes.forEach(function (code) {
        record[field.name + "___" + code] = checked.indexOf(code) >= 0 ? "1" : "0";
      });
    } else {
      record[field.name] = storedValue(field, rawValue(field));
    }
  }

  function hasValue(field) {
    return rawValue(field) !== "";
  }

  function snapshot(field) {
    if (isChoice(field)) return checkedCodes(field);
    return rawValue(field);
  }

  function setValue(field, value) {
    if (isChoice(field)) {
      controls(field.name).forEach(function (node) { node.checked = value.indexOf(node.value) >= 0; });
    } else {
      controls(field.name).forEach(function (node) { node.value = value; });
    }
    if (field.type === "slider") syncSlider(field.name);
    var confirm = form.querySelector('[name="' + CONFIRM_PREFIX + field.name + '"]');
    if (confirm) confirm.checked = false;
  }

  function hadSavedValue(field) {
    if (field.type === "checkbox") {
      return field.codes.some(function (code) { return savedRecord[field.name + "___" + code] === "1"; });
    }
    return (savedRecord[field.name] || "") !== "";
  }

  // --- the record, settled as the server settles it ---------------------------------------

  function liveRecord() {
    var record = Object.assign({}, savedRecord);
    fields.forEach(function (field) { if (field.entered) putInRecord(field, record); });
    return record;
  }

  function settle(record) {
    for (var pass = 0; pass < MAX_PASSES; pass += 1) {
      var changed = false;
      spec.logic.forEach(function (item) {
        if (item.calc) {
          var computed = logic.toText(evaluate(item.calc, record));
          if ((record[item.name] || "") !== computed) {
            record[item.name] = computed;
            changed = true;
          }
        } else if (!isShown(item.branching, record)) {
          var empty = item.checkbox ? "0" : "";
          item.keys.forEach(function (key) {
            var value = record[key] === undefined ? empty : record[key];
            if (value !== "" && value !== empty) {
              record[key] = empty;
              changed = true;
            }
          });
        }
      });
      if (!changed) break;
    }
    return record;
  }

  // One pass over the page: show and hide, empty what is hidden, put back what reappears.
  // Returns whether an input changed (then the record must be settled again).
  function applyBranching(record) {
    var changed = false;
    fields.forEach(function (field) {
      var wrapper = wrapperOf(field);
      if (!wrapper) return;
      var visible = isShown(field.branching, record);
      wrapper.hidden = !visible;
      if (!field.entered || spec.readOnly) return;
      if (!visible && hasValue(field)) {
        stash[field.name] = snapshot(field);
        if (hadSavedValue(field)) pendingCleared[field.name] = field.label;
        setValue(field, field.type === "checkbox" ? [] : "");
        changed = true;
      } else if (visible && stash[field.name] !== undefined) {
        if (!hasValue(field)) setValue(field, stash[field.name]);
        delete stash[field.name];
        delete pendingCleared[field.name];
        changed = true;
      }
    });
    return changed;
  }

  // --- checks as the person types (the server's messages, word for word) -----------------

  function decimalsOf(text) {
    return (String(text).split(".")[1] || "").length;
  }

  // Messages come translated in the spec (casereports/i18n/messages.py); English otherwise.
  function say(key, english, values) {
    var text = (spec.messages && spec.messages[key]) || english;
    return text.replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }

  function notNumber(field) {
    return field.integer
      ? say("notWhole", "is not a whole number", {})
      : say("notNumber", "is not a number", {});
  }

  function isMultiple(text, step) {
    var places = Math.max(decimalsOf(text), decimalsOf(step));
    var scale = Math.pow(10, places);
    var unit = Math.round(Number(step) * scale);
    return unit === 0 || Math.round(Number(text) * scale) % unit === 0;
  }

  function numberRange(field, number) {
    if (field.min && NUMBER.test(field.min) && number < Number(field.min)) {
      return say("atLeast", "must be at least {min}", { min: field.min });
    }
    if (field.max && NUMBER.test(field.max) && number > Number(field.max)) {
      return say("atMost", "must be at most {max}", { max: field.max });
    }
    return null;
  }

  function dateRange(field, value) {
    if (field.min && value < field.min) {
      return say("onOrAfter", "must be on or after {min}", { min: field.min });
    }
    if (field.max && value.slice(0, 10) > field.max) {
      return say("onOrBefore", "must be on or before {max}", { max: field.max });
    }
    return null;
  }

  // A saved value was confirmed when it was saved: only a new one is asked about (as on the server).
  function isSavedValue(field) {
    return storedValue(field, rawValue(field)).trim() === (savedRecord[field.name] || "");
  }

  function rangeProblem(field, message) {
    if (!message) return null;
    if (!field.soft) return { error: message };
    if (isSavedValue(field)) return null;
    return {
      warning: say("soft", "{problem} (expected {min}\u2013{max}); please check and confirm", {
        problem: message, min: field.rawMin, max: field.rawMax,
      }),
    };
  }

  function numberProblem(field, text) {
    if (!(field.integer ? INTEGER : NUMBER).test(text)) {
      return { error: notNumber(field) };
    }
    if (field.decimals && decimalsOf(text) !== field.decimals) {
      return {
        error: say("decimals", "must have exactly {places} decimal place(s)", {
          places: field.decimals,
        }),
      };
    }
    var range = rangeProblem(field, numberRange(field, Number(text)));
    if (range && range.error) return range;
    if (field.step && !isMultiple(text, field.step)) {
      return { error: say("multipleOf", "must be a multiple of {step}", { step: field.step }) };
    }
    return range;
  }

  function problemOf(field) {
    var node = controls(field.name)[0];
    if (field.kind === "number" && node && node.validity && node.validity.badInput) {
      return { error: notNumber(field) };
    }
    var value = storedValue(field, rawValue(field)).trim();
    if (value === "") return null;
    if (field.kind === "number") return numberProblem(field, value);
    if (field.kind === "date" || field.kind === "datetime") {
      var range = rangeProblem(field, dateRange(field, value));
      if (range && range.error) return range;
      if (field.maxToday && value.slice(0, 10) > spec.today) {
        return { error: say("laterThanToday", "cannot be later than today", {}) };
      }
      return range;
    }
    return null;
  }

  function sentence(message) {
    return say("sentence", "This answer {problem}.", { problem: message.replace(/\.$/, "") });
  }

  function showProblem(field, problem) {
    var wrapper = wrapperOf(field);
    if (!wrapper) return;
    var shown = wrapper.querySelector('[data-error-for="' + field.name + '"]');
    var inputs = controls(field.name);
    var error = problem && problem.error;
    var keepServerError = shown && shown.getAttribute("data-server-error") === "1" &&
      !touched[field.name];
    if (error && shown) {
      shown.textContent = sentence(error);
      shown.classList.add("d-block");
    } else if (shown && !keepServerError) {
      shown.textContent = "";
      shown.classList.remove("d-block");
    }
    if (error || keepServerError) {
      inputs.forEach(function (node) {
        node.classList.add("is-invalid");
        node.setAttribute("aria-invalid", "true");
      });
    } else {
      inputs.forEach(function (node) {
        node.classList.remove("is-invalid");
        node.removeAttribute("aria-invalid");
      });
    }
    var block = wrapper.querySelector('[data-warning-for="' + field.name + '"]');
    if (!block) return;
    var warning = problem && problem.warning;
    var keepServer = block.getAttribute("data-server-warning") === "1" && !touched[field.name];
    if (warning) {
      block.hidden = false;
      block.querySelector("[data-warning-text]").textContent = sentence(warning);
    } else if (!keepServer) {
      block.hidden = true;
      block.querySelector('input[type="checkbox"]').checked = false;
    }
  }

  // --- quality rules: warnings beside the questions a failing rule names -------------------

  var checks = spec.checks || [];
  var qualityTemplate = document.getElementById("quality-warning-template");

  function describedBy(node, id) {
    var ids = (node.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
    if (ids.indexOf(id) < 0) ids.push(id);
    node.setAttribute("aria-describedby", ids.join(" "));
  }

  // One empty polite live region per question of this page that a rule names, made once so that
  // what is written into it later is announced; a rule naming only other forms' questions has
  // no region here and shows nothing.
  function wireQuality() {
    if (!qualityTemplate || spec.readOnly || !checks.length) return;
    var named = {};
    checks.forEach(function (rule) {
      (rule.blanks || []).forEach(function (name) { named[name] = true; });
    });
    fields.forEach(function (field) {
      var wrapper = wrapperOf(field);
      if (!named[field.name] || !field.entered || !wrapper) return;
      var region = document.createElement("div");
      region.id = "quality-" + field.name;
      region.className = "gdsi-quality";
      region.setAttribute("data-quality-for", field.name);
      region.setAttribute("data-rules", "");
      region.setAttribute("aria-live", "polite");
      var errors = wrapper.querySelector('[data-error-for="' + field.name + '"]');
      if (errors) errors.insertAdjacentElement("afterend", region);
      else wrapper.appendChild(region);
      controls(field.name).forEach(function (node) { describedBy(node, region.id); });
    });
  }

  function failingChecks(record) {
    return checks.filter(function (rule) { return logic.isTrue(evaluate(rule.ast, record)); });
  }

  function qualityWarning(rule) {
    var warning = qualityTemplate.content.firstElementChild.cloneNode(true);
    warning.setAttribute("data-rule", rule.rule_id);
    warning.querySelector("[data-quality-message]").textContent = rule.message;
    return warning;
  }

  function showQuality(record) {
    var regions = form.querySelectorAll("[data-quality-for]");
    if (!regions.length) return;
    var failing = {};
    failingChecks(record).forEach(function (rule) {
      (rule.blanks || []).forEach(function (name) {
        (failing[name] = failing[name] || []).push(rule);
      });
    });
    each(regions, function (region) {
      var rules = failing[region.getAttribute("data-quality-for")] || [];
      var ids = rules.map(function (rule) { return rule.rule_id; }).join(" ");
      if (region.getAttribute("data-rules") === ids) return; // unchanged: nothing re-announced
      region.setAttribute("data-rules", ids);
      region.textContent = "";
      rules.forEach(function (rule) { region.appendChild(qualityWarning(rule)); });
    });
  }

  // --- the page as a whole -----------------------------------------------------------------

  function showCalcs(record) {
    fields.forEach(function (field) {
      if (!field.calc) return;
      var output = document.getElementById("calc-" + field.name);
      if (output) output.textContent = record[field.name] || "";
    });
  }

  function showSections() {
    each(form.querySelectorAll(".gdsi-section"), function (section) {
      var items = section.querySelectorAll(".gdsi-field");
      var anyShown = Array.prototype.some.call(items, function (item) { return !item.hidden; });
      section.hidden = items.length > 0 && !anyShown;
    });
  }

  function showPendingCleared() {
    var notice = document.getElementById("pending-cleared");
    var list = document.getElementById("pending-cleared-list");
    if (!notice || !list) return;
    var names = Object.keys(pendingCleared);
    list.textContent = "";
    fields.forEach(function (field) {
      if (names.indexOf(field.name) < 0) return;
      var item = document.createElement("li");
      item.textContent = field.label;
      list.appendChild(item);
    });
    notice.hidden = names.length === 0;
  }

  function refresh() {
    var record = settle(liveRecord());
    for (var pass = 0; pass < MAX_PASSES && applyBranching(record); pass += 1) {
      record = settle(liveRecord());
    }
    showCalcs(record);
    showSections();
    if (spec.readOnly) return;
    showQuality(record);
    fields.forEach(function (field) {
      var wrapper = wrapperOf(field);
      if (field.entered && wrapper && !wrapper.hidden) showProblem(field, problemOf(field));
    });
    showPendingCleared();
    showUnsaved();
  }

  // --- sliders: a hidden input carries the value, blank until the slider is moved ----------

  function syncSlider(name) {
    var hidden = form.querySelector('[data-slider-value="' + name + '"]');
    var range = form.querySelector('[data-slider-for="' + name + '"]');
    var number = form.querySelector('[data-slider-number="' + name + '"]');
    if (!hidden || !range) return;
    if (hidden.value !== "") range.value = hidden.value;
    if (number) number.textContent = hidden.value === "" ? say("notAnswered", "not answered", {}) : hidden.value;
  }

  function wireSliders() {
    each(form.querySelectorAll("[data-slider-for]"), function (range) {
      var name = range.getAttribute("data-slider-for");
      var hidden = form.querySelector('[data-slider-value="' + name + '"]');
      range.addEventListener("input", function () {
        hidden.value = range.value;
        syncSlider(name);
      });
    });
    each(form.querySelectorAll("[data-slider-clear]"), function (button) {
      var name = button.getAttribute("data-slider-clear");
      button.addEventListener("click", function () {
        form.querySelector('[data-slider-value="' + name + '"]').value = "";
        syncSlider(name);
        changed(name);
      });
    });
  }

  // --- the unsaved copy in sessionStorage ---------------------------------------------------

  function formState() {
    var state = {};
    each(form.elements, function (node) {
      if (!node.name || NOT_STORED[node.name] || node.disabled) return;
      if (node.type === "submit" || node.type === "button") return;
      var values = state[node.name] || (state[node.name] = []);
      if ((node.type === "checkbox" || node.type === "radio") && !node.checked) return;
      values.push(node.value);
    });
    return state;
  }

  function applyState(state) {
    each(form.elements, function (node) {
      if (!node.name || NOT_STORED[node.name] || !(node.name in state)) return;
      if (node.type === "submit" || node.type === "button") return;
      if (node.type === "checkbox" || node.type === "radio") {
        node.checked = state[node.name].indexOf(node.value) >= 0;
      } else {
        node.value = state[node.name][0] || "";
      }
    });
    each(form.querySelectorAll("[data-slider-value]"), function (node) {
      syncSlider(node.getAttribute("data-slider-value"));
    });
  }

  function differs(state, other) {
    return Object.keys(state).some(function (name) {
      return JSON.stringify(state[name]) !== JSON.stringify(other[name] || []);
    });
  }

  function storage() {
    if (spec.noStorage) return null; // a patient's answers stay on the server only
    try {
      return window.sessionStorage;
    } catch (blocked) {
      return null;
    }
  }

  function removeStored(prefix) {
    var store = storage();
    if (!store) return;
    var doomed = [];
    for (var index = 0; index < store.length; index += 1) {
      var key = store.key(index);
      if (key && key.indexOf(prefix) === 0) doomed.push(key);
    }
    doomed.forEach(function (key) { store.removeItem(key); });
  }

  function keepCopy() {
    var store = storage();
    if (!store || spec.readOnly) return;
    try {
      store.setItem(storageKey, JSON.stringify(formState()));
    } catch (full) {
      // a full or disabled storage only loses the safety copy, never the form
    }
  }

  function restoreCopy() {
    var store = storage();
    if (!store || spec.readOnly) return;
    var stored;
    try {
      stored = JSON.parse(store.getItem(storageKey) || "null");
    } catch (broken) {
      stored = null;
    }
    if (!stored || typeof stored !== "object" || !differs(stored, formState())) return;
    applyState(stored);
    Object.keys(stored).forEach(function (name) { touched[name] = true; });
    var banner = document.getElementById("restore-banner");
    if (banner) banner.hidden = false;
  }

  function showUnsaved() {
    var note = document.getElementById("submit-unsaved");
    var submitForm = document.getElementById("submit-form");
    if (!note || !submitForm || !initialState) return;
    var dirty = differs(formState(), initialState) || differs(initialState, formState());
    note.hidden = !dirty;
    each(submitForm.querySelectorAll('button[type="submit"]'), function (button) {
      button.disabled = dirty;
    });
  }

  // --- events ------------------------------------------------------------------------------

  function fieldNamed(name) {
    return fields.filter(function (field) { return field.name === name; })[0];
  }

  function changed(name) {
    if (name && name.indexOf(CONFIRM_PREFIX) !== 0) {
      touched[name] = true;
      delete stash[name];
      var field = fieldNamed(name);
      var confirm = form.querySelector('[name="' + CONFIRM_PREFIX + name + '"]');
      if (field && field.soft && confirm) confirm.checked = false;
    }
    refresh();
    keepCopy();
  }

  function onInput(event) {
    var target = event.target;
    changed(target.getAttribute("data-slider-for") || target.name);
  }

  function start() {
    if (spec.clearStored) removeStored(spec.clearStored);
    initialState = formState();
    wireSliders();
    wireQuality();
    restoreCopy();
    refresh();
    form.addEventListener("input", onInput);
    form.addEventListener("change", onInput);
    var logout = document.getElementById("logout-form");
    if (logout) {
      logout.addEventListener("submit", function () { removeStored(spec.storagePrefix + ":"); });
    }
  }

  start();
})();
