// The desk UI's only script: keyboard shortcuts and the sync progress line.
// No inline script anywhere (the CSP forbids it); no data from a contact is
// ever inserted as HTML here: textContent only.
"use strict";

function typing(event) {
  const el = event.target;
  return el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
}

function items() { return Array.from(document.querySelectorAll("article.item")); }

function focusItem(step) {
  const all = items();
  if (!all.length) return;
  let i = all.indexOf(document.activeElement.closest ? document.activeElement.closest("article.item") : null);
  i = i < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, i + step));
  all[i].focus();
  all[i].scrollIntoView({ block: "nearest" });
}

function gradeFocused(grade) {
  const item = document.activeElement && document.activeElement.closest
    ? document.activeElement.closest("article.item") : null;
  const form = item && item.querySelector("form.grade-form");
  if (!form) return;
  form.querySelector("select[name=grade]").value = grade;
  form.submit();
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "Escape" && typing(event)) { event.target.blur(); return; }
  if (typing(event)) return;
  const go = (href) => { if (href) window.location.href = href; };
  switch (event.key) {
    case "j": focusItem(1); break;
    case "k": focusItem(-1); break;
    case "n": { const a = document.getElementById("next-unread"); if (a) go(a.href); break; }
    case "r": { const t = document.getElementById("reply-text"); if (t) { t.focus(); event.preventDefault(); } break; }
    case "/": { const s = document.getElementById("quick-search"); if (s) { s.focus(); event.preventDefault(); } break; }
    case "g": go("/"); break;
    case "L": { const f = document.getElementById("lock-form"); if (f) f.submit(); break; }
    default:
      if (/^[1-6]$/.test(event.key)) gradeFocused(event.key);
  }
});

// Back from a form on an item (grade, tags): that item has the focus, so
// j/k and the grade keys go on from where the handler was.
(function () {
  const id = decodeURIComponent(window.location.hash.slice(1));
  const item = id.startsWith("item-") ? document.getElementById(id) : null;
  if (item && item.matches("article.item")) item.focus();
})();

// Sync progress: polled while a sync runs; the page reloads when it ends.
(function () {
  const line = document.getElementById("sync-status");
  if (!line) return;
  // Rendered while a sync ran: reload when it has ended, even if it ends
  // before the first poll sees it running.
  let wasRunning = line.hasAttribute("data-running");
  async function poll() {
    let s;
    try {
      const r = await fetch("/sync/status", { credentials: "same-origin", cache: "no-store" });
      s = await r.json();
    } catch (e) { return setTimeout(poll, 3000); }
    if (s.locked) { window.location.href = "/"; return; }
    if (s.running) {
      wasRunning = true;
      line.textContent = s.phase + (s.total ? " " + s.done + " / " + s.total : "") + "…";
      line.dataset.state = "running";
      return setTimeout(poll, 700);
    }
    line.dataset.state = s.phase || "idle";
    line.textContent = s.message || "";
    if (s.warnings && s.warnings.length) line.textContent += " " + s.warnings.length + " warning(s).";
    // Only text typed since the page came counts (a saved note is no draft).
    const drafting = Array.from(document.querySelectorAll("textarea"))
      .some((t) => t.value.trim() && t.value !== t.defaultValue);
    if (wasRunning && !drafting) { window.location.reload(); return; }
    if (wasRunning) line.textContent += " Reload to see what is new.";
    wasRunning = false;
    setTimeout(poll, 5000);
  }
  poll();
})();
