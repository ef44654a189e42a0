// The flow preview: walks a flow through the JSON API exactly as a front end would.
// Every word about the domain comes from /preview/context; nothing here names it.
"use strict";

const POLL_MS = 1000;
const MAX_POLLS = 12 * 3600; // about twelve hours of watching, then the page stops asking
const MAX_FAILURES = 30; // consecutive failed polls before the page says the server is gone

const state = {
  context: null,
  version: null,
  tokens: {}, // actor id -> a token the preview minted for it
  runToken: null, // the token of the actor who started the current run
  asked: 0, // availability requests made; only the latest one is shown
  run: null,
  history: [], // the answers sent on each screen passed, replayed after a reload
  stage: "idle", // idle | screen | plan | blocked | cancelled
  polls: 0,
  failures: 0,
  reloads: 0,
  locale: "", // the language the screens are shown in: "" for the acting person's own (their record's locale)
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "on") for (const [event, fn] of Object.entries(value)) node.addEventListener(event, fn);
    else if (key in node && key !== "list") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function capital(word) {
  return word ? word.charAt(0).toUpperCase() + word.slice(1).replace(/_/g, " ") : "";
}

function paragraphs(text) {
  // YAML bodies wrap lines by hand: a blank line starts a paragraph, a single newline is a space.
  return (text || "").split(/\n\s*\n/).map((p) => p.trim()).filter(Boolean).map((p) => el("p", { text: p.replace(/\s*\n\s*/g, " ") }));
}

function show(id, visible) {
  $(id).hidden = !visible;
}

// --- the API --------------------------------------------------------------
class ApiFailure extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
    this.error = (body && body.error) || { code: "unknown", message: this.message };
  }
}

function localized(path) {
  // the API's own routes show screens in the language asked for; the preview's routes have none
  if (!state.locale || path.startsWith("/preview/")) return path;
  return `${path}${path.includes("?") ? "&" : "?"}locale=${encodeURIComponent(state.locale)}`;
}

async function call(method, path, body, token = state.runToken) {
  path = localized(path);
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
  let data = null;
  try {
    data = await response.json();
  } catch (_) {
    data = null;
  }
  if (!response.ok) throw new ApiFailure(response.status, data);
  return data;
}

async function tokenFor(actor) {
  if (!state.tokens[actor]) {
    const data = await call("POST", "/preview/token", { actor }, null);
    state.tokens[actor] = data.token;
  }
  return state.tokens[actor];
}

function selection() {
  return { flow: $("flow").value, actor: $("actor").value, subject: $("subject").value };
}

function subjectWord() {
  return state.context ? state.context.subject.entity : "subject";
}

// --- context and problems -------------------------------------------------
function fill(select, items, valueOf, labelOf) {
  const previous = select.value;
  select.replaceChildren(...items.map((item) => el("option", { value: valueOf(item), text: labelOf(item) })));
  if (items.some((item) => valueOf(item) === previous)) select.value = previous;
}

function showProblems(problems) {
  $("problem-list").replaceChildren(
    ...problems.map((p) => el("li", {}, el("code", { text: `${p.path}${p.line ? `:${p.line}:${p.col}` : ""}` }), " ", el("span", { text: p.message }))),
  );
  show("problems", true);
  for (const id of ["picker", "run", "plan"]) show(id, false);
}

async function loadContext() {
  const context = await call("GET", "/preview/context", undefined, null);
  state.version = context.version;
  if (context.problems.length) {
    state.context = null;
    showProblems(context.problems);
    return false;
  }
  state.context = context;
  show("problems", false);
  show("picker", true);
  const product = (context.product && context.product.name) || "Flow preview";
  $("product").textContent = product;
  document.title = `${product} · flow preview`;
  $("actor-word").textContent = `Acting ${context.actor.entity.replace(/_/g, " ")}`;
  $("subject-word").textContent = capital(context.subject.entity);
  fill($("flow"), context.flows, (f) => f.flow, (f) => `${f.title} (${f.flow})`);
  fill($("actor"), context.actors, (a) => a.id, (a) => a.label);
  fill($("subject"), context.subjects, (s) => s.id, (s) => `${s.label} (${s.id})`);
  fillLocales(context.locales || []);
  return true;
}

function languageName(tag) {
  try {
    const name = new Intl.DisplayNames([tag], { type: "language" }).of(tag);
    return name && name !== tag ? `${name} (${tag})` : tag;
  } catch (_) {
    return tag;
  }
}

function fillLocales(locales) {
  // a language picker only when the project declares more than one (the first is the flows' own)
  const offered = locales.length > 1;
  show("locale-pick", offered);
  const choices = offered ? ["", ...locales] : [""];
  fill($("locale"), choices, (tag) => tag, (tag) => (tag ? languageName(tag) : "The acting person's own"));
  state.locale = $("locale").value || "";
}

// --- availability ---------------------------------------------------------
async function refreshAvailability() {
  const box = $("availability");
  const { flow, actor, subject } = selection();
  if (!flow || !actor || !subject) return;
  const ticket = ++state.asked;
  try {
    const token = await tokenFor(actor);
    const data = await call("GET", `/availability?${encodeURIComponent(subjectWord())}=${encodeURIComponent(subject)}`, undefined, token);
    if (ticket !== state.asked) return; // a newer choice was made meanwhile
    fill($("flow"), data.flows, (f) => f.flow, (f) => `${f.title} (${f.flow})`); // the titles in the language shown
    const chosen = data.flows.find((f) => f.flow === flow);
    const rows = data.flows.map((f) =>
      el("tr", { className: f.flow === flow ? "chosen" : null },
        el("td", { text: f.title }),
        el("td", {}, el("span", { className: f.available ? "yes" : "no", text: f.available ? "offered" : "not offered" })),
        el("td", { text: f.reasons.map((r) => r.message).join(" ") })),
    );
    box.replaceChildren(
      chosen && chosen.available
        ? el("p", { className: "verdict yes", id: "verdict", text: `Offered: “${chosen.title}” can be started here.` })
        : el("div", { className: "verdict no", id: "verdict" },
            el("p", { text: `Not offered: “${chosen ? chosen.title : flow}” would not be shown, because:` }),
            el("ul", {}, (chosen ? chosen.reasons : []).map((r) => el("li", {}, el("strong", { text: r.rule }), ": ", r.message)))),
      el("details", {},
        el("summary", { text: "Every flow for this choice" }),
        el("table", {}, el("thead", {}, el("tr", {}, el("th", { text: "Flow" }), el("th", { text: "Offered" }), el("th", { text: "Why not" }))), el("tbody", {}, rows))),
    );
    box.dataset.for = `${flow}|${actor}|${subject}`;
    box.dataset.locale = state.locale;
  } catch (failure) {
    if (ticket !== state.asked) return;
    box.replaceChildren(el("p", { className: "verdict no", id: "verdict", text: failure.message }));
    box.dataset.for = `${flow}|${actor}|${subject}`;
    box.dataset.locale = state.locale;
  }
}

// --- screens --------------------------------------------------------------
function fieldInput(field, index) {
  const id = `field-${field.name}`;
  const described = `error-${field.name}`;
  const help = field.help ? el("p", { className: "help", id: `help-${field.name}`, text: field.help }) : null;
  const describedBy = [help ? help.id : null, described].filter(Boolean).join(" ");
  const error = el("p", { className: "error", id: described, hidden: true });
  const hint = field.confirm ? el("p", { className: "help confirm", text: "Type it exactly as shown to confirm." }) : null;
  const required = field.required ? el("span", { className: "muted", text: " (required)" }) : el("span", { className: "muted", text: " (optional)" });
  const given = field.value !== undefined && field.value !== null ? field.value : field.default;
  if (field.type === "choice") {
    const options = (field.options || []).map((option, n) =>
      el("label", { className: "option" },
        el("input", { type: "radio", name: field.name, value: String(n), checked: given !== null && given !== undefined && option.value === given, "aria-describedby": describedBy }),
        " ", option.label),
    );
    return el("fieldset", { className: "field", "data-field": field.name, "data-index": index }, el("legend", {}, field.label, required), help, ...options, error);
  }
  if (field.type === "boolean") {
    return el("div", { className: "field", "data-field": field.name },
      el("label", { className: "option" }, el("input", { type: "checkbox", id, name: field.name, checked: given === true, "aria-describedby": describedBy }), " ", field.label),
      help, error);
  }
  const input = field.type === "number"
    ? el("input", { type: "number", id, name: field.name, step: "any", value: given ?? "", "aria-describedby": describedBy })
    : field.confirm
      ? el("input", { type: "text", id, name: field.name, autocomplete: "off", spellcheck: false, value: given ?? "", "aria-describedby": describedBy })
      : el("textarea", { id, name: field.name, rows: 3, value: given ?? "", "aria-describedby": describedBy });
  if (field.required) input.setAttribute("aria-required", "true");
  return el("div", { className: "field", "data-field": field.name }, el("label", { htmlFor: id }, field.label, required), help, hint, input, error);
}

function collect(screen, form) {
  const answers = {};
  for (const field of screen.fields) {
    if (field.type === "choice") {
      const picked = form.querySelector(`input[name="${CSS.escape(field.name)}"]:checked`);
      if (picked) answers[field.name] = field.options[Number(picked.value)].value;
    } else if (field.type === "boolean") {
      answers[field.name] = form.querySelector(`input[name="${CSS.escape(field.name)}"]`).checked;
    } else {
      const value = form.elements[field.name].value;
      if (value !== "" || field.required) answers[field.name] = value;
    }
  }
  return answers;
}

function markErrors(form, failure) {
  const messages = {};
  for (const e of failure.error.errors || []) messages[e.field] = e.message;
  for (const n of failure.error.needs || []) messages[n.field] = messages[n.field] || "An answer is needed here.";
  for (const box of form.querySelectorAll("[data-field]")) {
    const name = box.getAttribute("data-field");
    const error = box.querySelector(".error");
    const message = messages[name];
    error.hidden = !message;
    error.textContent = message || "";
    for (const input of box.querySelectorAll("input, textarea")) input.setAttribute("aria-invalid", message ? "true" : "false");
  }
  const summary = form.querySelector(".summary");
  const unplaced = Object.keys(messages).length ? "" : failure.message;
  summary.hidden = false;
  summary.textContent = unplaced || "Please check the answers marked below.";
  summary.focus();
}

function showScreen(view) {
  state.stage = "screen";
  const screen = view.screen;
  const depth = state.history.length;
  const form = el("form", { className: "screen-form", novalidate: true });
  const summary = el("p", { className: "summary error", role: "alert", tabindex: "-1", hidden: true });
  const buttons = screen.buttons || {};
  const next = el("button", { type: "submit", className: screen.kind === "confirm" ? "danger" : "primary", "data-action": "next", text: buttons.next || "Continue" });
  const back = depth > 0 ? el("button", { type: "button", "data-action": "back", text: buttons.back || "Back", on: { click: () => goBack() } }) : null;
  const cancel = el("button", { type: "button", className: "quiet", "data-action": "cancel", text: buttons.cancel || "Cancel", on: { click: () => cancelRun() } });
  form.append(summary, ...screen.fields.map(fieldInput), el("div", { className: "buttons" }, cancel, el("span", { className: "spacer" }), back, next));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit(screen, form);
  });
  const heading = el("h2", { tabindex: "-1", id: "screen-title", text: screen.title });
  $("run").replaceChildren(...[
    el("p", { className: "step muted", text: `Screen ${depth + 1} · ${screen.step} · ${screen.kind}` }),
    heading,
    el("div", { className: "body" }, paragraphs(screen.body)),
    form,
  ]);
  $("run").setAttribute("data-step", screen.step);
  $("run").lang = state.locale;
  show("run", true);
  show("plan", false);
  heading.focus();
}

function showMessage(title, lines, kind) {
  $("run").replaceChildren(
    el("h2", { tabindex: "-1", text: title }),
    el("div", { className: `verdict ${kind}` }, lines.map((line) => el("p", { text: line }))),
    el("div", { className: "buttons" }, el("button", { type: "button", className: "primary", text: "Start again", on: { click: () => startRun() } })),
  );
  $("run").removeAttribute("data-step");
  show("run", true);
  show("plan", false);
  $("run").querySelector("h2").focus();
}

async function startRun() {
  state.history = [];
  state.run = null;
  const { flow, actor, subject } = selection();
  try {
    state.runToken = await tokenFor(actor);
    const view = await call("POST", `/flows/${encodeURIComponent(flow)}/runs`, { [subjectWord()]: subject });
    state.run = view.run;
    await land(view);
  } catch (failure) {
    if (failure.error && failure.error.code === "blocked") {
      state.stage = "blocked";
      showMessage("This flow is not offered here", failure.error.blocked_by.map((b) => `${b.rule}: ${b.message}`), "no");
    } else {
      showMessage("The flow could not start", [failure.message], "no");
    }
  }
}

async function land(view) {
  if (view.status === "ready") await showPlan();
  else showScreen(view);
}

async function submit(screen, form) {
  const answers = collect(screen, form);
  try {
    const view = await call("POST", `/runs/${state.run}/answers`, { answers });
    state.history.push(answers);
    await land(view);
  } catch (failure) {
    if (failure.status === 422) markErrors(form, failure);
    else showMessage("Something went wrong", [failure.message], "no");
  }
}

async function goBack() {
  try {
    const view = await call("POST", `/runs/${state.run}/back`);
    state.history.pop();
    await land(view);
  } catch (failure) {
    showMessage("Could not go back", [failure.message], "no");
  }
}

async function cancelRun() {
  try {
    await call("POST", `/runs/${state.run}/cancel`);
  } catch (_) {
    // a run that is already gone is cancelled enough
  }
  state.stage = "cancelled";
  state.history = [];
  showMessage("Cancelled", ["Nothing was changed."], "neutral");
}

// --- the plan -------------------------------------------------------------
function shown(value) {
  return value === undefined ? "" : JSON.stringify(value);
}

function changesTable(changes) {
  if (!changes.length) return el("p", { className: "muted", text: "No record changes." });
  const sign = { update: "~", delete: "−", create: "+" };
  return el("table", { className: "changes" },
    el("thead", {}, el("tr", {}, ["", "Record", "Field", "Before", "After"].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, changes.map((c) => el("tr", { className: c.op },
      el("td", { text: sign[c.op] || c.op, title: c.op }),
      el("td", { text: `${c.entity} ${c.id}` }),
      el("td", { text: c.field === null ? (c.op === "delete" ? "(deleted)" : "(new)") : c.field }),
      el("td", {}, el("code", { text: c.op === "create" ? "" : shown(c.before) })),
      el("td", {}, el("code", { text: c.op === "delete" ? "" : shown(c.after) }), c.predicted ? el("span", { className: "muted", text: " (predicted)" }) : null)))));
}

function emailCard(email, index) {
  const frame = el("iframe", { sandbox: "", title: `Email ${index + 1} as HTML: ${email.subject}`, className: "mail" });
  frame.srcdoc = email.html || "";
  return el("article", { className: "email", "data-template": email.template },
    el("h4", { text: email.subject }),
    el("dl", {}, el("dt", { text: "To" }), el("dd", { text: email.to.join(", ") }), el("dt", { text: "Template" }), el("dd", { text: email.template })),
    email.html ? frame : el("p", { className: "muted", text: "No HTML part." }),
    el("details", {}, el("summary", { text: "Text part" }), el("pre", { text: email.text })));
}

// What a scheduled part does, in the CLI's words: `update account.status`, `email reminder`.
function describeLater(item) {
  const what = item.what || {};
  if (item.kind === "email") return `email ${what.template}`;
  return `${what.op} ${what.entity}${what.field ? `.${what.field}` : ""}`;
}

// The plan's scheduled work as a dated timeline, as the CLI's text plan shows it: one entry per time,
// soonest first, each part with its condition (`unless`), what it would change and what it would send.
function timeline(scheduled) {
  if (!scheduled || !scheduled.length) return [];
  const times = [...new Set(scheduled.map((item) => item.at))].sort();
  return [
    el("h3", { text: `Later, unless cancelled (${scheduled.length} scheduled)` }),
    el("ol", { className: "timeline", "aria-label": "Scheduled work" }, times.map((at) => el("li", { className: "when", "data-at": at },
      el("h4", {}, el("time", { dateTime: at, text: at })),
      scheduled.filter((item) => item.at === at).map((item) => el("section", { className: "later", "data-kind": item.kind },
        el("p", {},
          el("strong", { text: `Scheduled: ${describeLater(item)}` }),
          ` on ${item.due}`,
          item.unless ? el("span", { className: "unless", text: ` (unless ${item.unless})` }) : null),
        item.changes.length ? changesTable(item.changes) : null,
        item.emails.map(emailCard),
        !item.changes.length && !item.emails.length ? el("p", { className: "muted", text: "What it does is decided when it is due." }) : null))))),
  ];
}

async function showPlan() {
  state.stage = "plan";
  const plan = await call("GET", `/runs/${state.run}/plan`);
  const box = $("plan");
  const heading = el("h2", { id: "plan-title", tabindex: "-1", text: "What would happen" });
  const approval = plan.status === "awaiting_approval" && plan.approval ? plan.approval : null;
  const status = plan.status === "completed"
    ? el("p", { className: "verdict yes", text: "Every screen is answered. Committing would do this:" })
    : approval
    ? el("p", { className: "verdict wait", "data-status": "awaiting_approval", text: `Committing would wait for another person's approval (the request expires ${approval.expires}). Once approved, it would do this:` })
    : el("p", { className: "verdict no", text: `The run is ${plan.status.replace("_", " ")}: ${[...plan.blocked_by, ...plan.errors].map((x) => x.message).join(" ")}` });
  box.replaceChildren(...[
    heading,
    status,
    plan.banners.map((text) => el("div", { className: "banner", role: "note", "aria-label": "Banner", text })),
    (plan.warnings || []).map((w) => el("div", { className: "warning", role: "status", "aria-label": "Warning", "data-code": w.code, text: w.message })),
    approval ? el("h3", { text: `Approval request (${approval.emails.length} email${approval.emails.length === 1 ? "" : "s"})` }) : null,
    approval ? (approval.emails.length ? approval.emails.map(emailCard) : el("p", { className: "muted", text: "No approver is emailed." })) : null,
    el("h3", { text: "Changes" }),
    changesTable(plan.changes),
    el("h3", { text: `Emails (${plan.emails.length})` }),
    plan.emails.length ? plan.emails.map(emailCard) : el("p", { className: "muted", text: "No email." }),
    timeline(plan.scheduled),
    el("h3", { text: "Can it be undone?" }),
    el("p", { className: "reversible", text: `${plan.reversible ? "Yes." : "No."} ${plan.undo || ""}`.trim() }),
    el("h3", { text: "Audit entry" }),
    el("p", { className: "audit", text: (plan.audit && plan.audit.summary) || "" }),
    el("div", { className: "buttons" },
      el("button", { type: "button", "data-action": "back", text: "Back", on: { click: () => goBack() } }),
      el("span", { className: "spacer" }),
      el("button", { type: "button", className: "primary", text: "Start again", on: { click: () => startRun() } })),
    el("p", { className: "muted", text: "This is a preview: committing is switched off." }),
  ].flat().filter((part) => part !== null));
  show("run", false);
  show("plan", true);
  heading.focus();
}

// --- reloading ------------------------------------------------------------
async function replay() {
  const answers = state.history;
  const stage = state.stage;
  await startRun();
  if (!state.run || state.stage !== "screen") return;
  for (const given of answers) {
    try {
      const view = await call("POST", `/runs/${state.run}/answers`, { answers: given });
      state.history.push(given);
      if (view.status === "ready") {
        if (stage === "plan" || state.history.length === answers.length) await showPlan();
        return;
      }
      showScreen(view);
    } catch (failure) {
      if (failure.status === 422) {
        markErrors($("run").querySelector("form"), failure);
      }
      return;
    }
  }
}

async function compareWith(base) {
  const box = $("compare-result");
  box.replaceChildren(el("p", { className: "muted", text: `Comparing the working files with ${base}…` }));
  try {
    const review = await call("GET", `/preview/compare?base=${encodeURIComponent(base)}`, undefined, null);
    const changed = review.flows.filter((f) => f.status !== "unchanged");
    const parts = [el("p", { text: `${review.head} against ${review.base}: ${changed.length} flow(s) changed, ${review.behaviour.length} pair(s) with another availability, ${review.plans.length} with another plan.` })];
    if (changed.length) {
      parts.push(el("h3", { text: "Definitions" }), el("ul", {}, ...changed.map((f) =>
        el("li", {}, el("strong", { text: `${f.flow} (${f.status})` }), el("ul", {}, ...f.changes.slice(0, 20).map((c) => el("li", { text: c.message })))))));
    }
    if (review.summary.length) {
      parts.push(el("h3", { text: `Behaviour on ${review.data}` }), el("ul", {}, ...review.summary.map((g) => el("li", { "data-flow": g.flow, text: `${g.flow}: ${g.sentence}` }))));
    }
    if (!changed.length && !review.summary.length) parts.push(el("p", { className: "muted", text: "No change of meaning or behaviour." }));
    box.replaceChildren(...parts);
  } catch (failure) {
    box.replaceChildren(el("p", { className: "verdict no", role: "alert", text: `Could not compare: ${failure.error ? failure.error.message : failure.message}` }));
  }
}

async function reload() {
  state.reloads += 1;
  state.tokens = {}; // the server may have restarted with a new key
  const ok = await loadContext();
  $("watch").textContent = ok
    ? `Reloaded after a change (${state.reloads}); watching flows, templates and the data file.`
    : "The project has problems; watching for the fix.";
  if (!ok) return;
  await refreshAvailability();
  if (["screen", "plan"].includes(state.stage) && state.run) await replay();
}

async function poll() {
  state.polls += 1;
  if (state.polls > MAX_POLLS) {
    $("watch").textContent = "Stopped watching for changes; reload the page to watch again.";
    return;
  }
  try {
    const data = await call("GET", "/preview/version", undefined, null);
    state.failures = 0;
    if (data.version !== state.version) {
      state.version = data.version;
      await reload();
    }
  } catch (_) {
    state.failures += 1;
    if (state.failures >= MAX_FAILURES) {
      $("watch").textContent = "The preview server stopped answering; start it again and reload the page.";
      return;
    }
  }
  setTimeout(poll, POLL_MS);
}

async function main() {
  for (const id of ["flow", "actor", "subject"]) {
    $(id).addEventListener("change", () => {
      // a new choice ends the walk shown: it was for the previous one
      Object.assign(state, { run: null, history: [], stage: "idle" });
      show("run", false);
      show("plan", false);
      refreshAvailability();
    });
  }
  $("locale").addEventListener("change", async () => {
    // the same walk, shown in another language: replayed to where it was
    state.locale = $("locale").value;
    await refreshAvailability();
    if (["screen", "plan"].includes(state.stage) && state.run) await replay();
  });
  $("pick").addEventListener("submit", (event) => {
    event.preventDefault();
    startRun();
  });
  $("compare-form").addEventListener("submit", (event) => {
    event.preventDefault();
    compareWith($("compare-base").value.trim() || "HEAD");
  });
  try {
    if (await loadContext()) await refreshAvailability();
    $("watch").textContent = "Watching flows, templates and the data file: saving a change reloads this page.";
  } catch (failure) {
    $("watch").textContent = `The preview could not load: ${failure.message}`;
  }
  setTimeout(poll, POLL_MS);
}

main();
