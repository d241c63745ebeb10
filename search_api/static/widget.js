/* <glossary-search api="https://glossary.example"> — a search-as-you-type help box.

   Add it with one script tag and one element:
     <script src="https://glossary.example/widget.js"></script>
     <glossary-search api="https://glossary.example"></glossary-search>
   An empty or absent `api` means the page's own origin.

   Theme it from the host page with CSS custom properties (defaults in brackets):
     --gs-font        font family                     [system-ui, sans-serif]
     --gs-text        text colour                     [#1f2328]
     --gs-muted       secondary text colour           [#59636e]
     --gs-bg          background of the box           [#fff]
     --gs-border      borders and dividers            [#d0d7de]
     --gs-accent      focus ring, links, field labels [#0969da]
     --gs-active      background of the active option [#ddf4ff]
     --gs-error       colour of error messages        [#b3261e]
     --gs-radius      corner radius                   [8px]
     --gs-max-height  height of the result list       [22rem]

   Events: `glossary-results` (bubbles, composed) carries each /search answer as its
   detail, inference included. Method: `el.search("a question")` runs a search.
   All glossary text is rendered as text (textContent), never parsed as HTML. */
(() => {
  const CSS = `
:host { display: block; font-family: var(--gs-font, system-ui, sans-serif); color: var(--gs-text, #1f2328); }
.box { background: var(--gs-bg, #fff); border: 1px solid var(--gs-border, #d0d7de); border-radius: var(--gs-radius, 8px); padding: .75rem; }
input { box-sizing: border-box; width: 100%; font: inherit; font-size: 1.05rem; padding: .55rem .7rem; color: inherit;
  background: transparent; border: 1px solid var(--gs-border, #d0d7de); border-radius: var(--gs-radius, 8px); }
input:focus, button:focus-visible { outline: 2px solid var(--gs-accent, #0969da); outline-offset: 1px; }
[tabindex="-1"]:focus { outline: none; }
[hidden] { display: none !important; }
.status { color: var(--gs-muted, #59636e); font-size: .85rem; margin: .4rem .1rem 0; min-height: 1.1em; }
.status.empty { color: inherit; font-size: .95rem; }
.error { margin: .5rem .1rem 0; color: var(--gs-error, #b3261e); }
[role=listbox] { list-style: none; margin: .5rem 0 0; padding: 0; max-height: var(--gs-max-height, 22rem); overflow-y: auto; }
[role=option] { padding: .5rem .6rem; border-radius: calc(var(--gs-radius, 8px) - 2px); cursor: pointer; }
[role=option][aria-selected=true], [role=option]:hover { background: var(--gs-active, #ddf4ff); }
.term { font-weight: 600; }
.field { color: var(--gs-accent, #0969da); font-size: .75rem; margin-left: .5rem; text-transform: uppercase; letter-spacing: .03em; }
.text { display: block; color: var(--gs-muted, #59636e); font-size: .9rem; margin-top: .15rem; }
button { font: inherit; cursor: pointer; }
.link { background: none; border: 0; padding: 0; color: var(--gs-accent, #0969da); text-decoration: underline; }
.entry { margin-top: .75rem; border-top: 1px solid var(--gs-border, #d0d7de); padding-top: .5rem; }
.entry header { display: flex; justify-content: space-between; align-items: baseline; gap: 1rem; }
.entry h2 { font-size: 1.25rem; margin: .25rem 0; }
.entry h3 { font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; color: var(--gs-muted, #59636e); margin: .9rem 0 .2rem; }
.entry p, .entry ul { margin: .2rem 0; line-height: 1.45; }
.close { background: none; border: 1px solid var(--gs-border, #d0d7de); border-radius: 999px; padding: .1rem .6rem; color: inherit; }
.related { display: flex; flex-wrap: wrap; gap: .4rem .9rem; padding: 0; list-style: none; }`;

  const DEBOUNCE_MS = 120;
  const FIELD_LABELS = { plain_english: "plain English", usage: "how it is used", misconceptions: "misconception", described_as: "described as" };
  const SECTIONS = [["plain_english", "In plain English"], ["analogy", "Analogy"], ["example", "Example"], ["usage", "How it is used"]];

  /** An element with attributes and text children; text is never parsed as HTML. */
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    for (const child of children) node.append(child);  // append() inserts strings as text nodes
    return node;
  }

  /** A question goes to the model; a name being typed only to /suggest. */
  const isQuestion = (q) => q.trim().endsWith("?") || q.trim().split(/\s+/).length >= 3;

  class GlossarySearch extends HTMLElement {
    constructor() {
      super();
      this.seq = 0;        // newest list request; older answers are dropped
      this.entrySeq = 0;   // same for entries
      this.items = [];
      this.active = -1;
      this.timer = 0;
      const root = this.attachShadow({ mode: "open" });
      this.input = el("input", {
        type: "search", role: "combobox", "aria-expanded": "false", "aria-controls": "gs-list",
        "aria-autocomplete": "list", "aria-label": "Search the glossary", autocomplete: "off", spellcheck: "false",
        placeholder: "Ask a question or type a term",
      });
      this.status = el("p", { class: "status", role: "status", "aria-live": "polite" });
      this.error = el("p", { class: "error", hidden: "" });
      this.list = el("ul", { id: "gs-list", role: "listbox", "aria-label": "Glossary entries", hidden: "" });
      this.entry = el("article", { class: "entry", hidden: "" });
      const style = el("style", {}, CSS);
      root.append(style, el("div", { class: "box", part: "box" }, this.input, this.status, this.error, this.list, this.entry));
      this.input.addEventListener("input", () => this.typed());
      this.input.addEventListener("keydown", (e) => this.key(e));
      root.addEventListener("keydown", (e) => { if (e.key === "Escape" && e.target !== this.input) this.escape(e); });
    }

    get base() { return (this.getAttribute("api") || "").replace(/\/+$/, ""); }

    /** Search for `query` now, as if it had been typed and Enter pressed. */
    search(query) { this.input.value = query; this.run(true); }

    typed() {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.run(false), DEBOUNCE_MS);
    }

    key(e) {
      const open = !this.list.hidden && this.items.length > 0;
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        if (!this.items.length) return;
        this.showList(true);
        const step = e.key === "ArrowDown" ? 1 : -1;
        this.setActive(open ? (this.active + step + this.items.length) % this.items.length : 0);
      } else if (e.key === "Enter") {
        e.preventDefault();
        if (open && this.active >= 0) this.openEntry(this.items[this.active].id);
        else this.run(true);
      } else if (e.key === "Escape") {
        this.escape(e);
      }
    }

    escape(e) {
      if (!this.entry.hidden) {
        e.preventDefault();
        this.closeEntry();
      } else if (!this.list.hidden) {
        e.preventDefault();
        this.showList(false);
      }
    }

    /** Fetch JSON from the API; throws an Error whose message is fit to show. */
    async get(path) {
      let response;
      try {
        response = await fetch(this.base + path, { headers: { Accept: "application/json" } });
      } catch {
        throw new Error("The glossary service cannot be reached. Check your connection and try again.");
      }
      const body = await response.json().catch(() => null);
      if (!response.ok) {
        const text = body && body.error && body.error.message;
        throw new Error(text ? String(text).slice(0, 200) : `The glossary service answered ${response.status}.`);
      }
      if (body === null) throw new Error("The glossary service sent an answer that could not be read.");
      return body;
    }

    async run(now) {
      clearTimeout(this.timer);
      const q = this.input.value;
      const seq = ++this.seq;
      if (!q.trim()) return this.render([], "", null);
      const search = now || isQuestion(q);
      const path = search ? `/search?q=${encodeURIComponent(q)}` : `/suggest?q=${encodeURIComponent(q)}`;
      try {
        const body = await this.get(path);
        if (seq !== this.seq) return;  // a newer request was made meanwhile
        if (search) {
          this.render(body.hits.map((h) => ({ id: h.id, term: h.term, field: h.matched_field, text: h.snippet })), q, body);
          this.dispatchEvent(new CustomEvent("glossary-results", { detail: body, bubbles: true, composed: true }));
        } else {
          this.render(body.suggestions.map((s) => ({
            id: s.id, term: s.term, field: s.matched === s.term ? "term" : "alias",
            text: s.matched === s.term ? s.definition : `${s.matched}: ${s.definition}`,
          })), q, null);
        }
      } catch (error) {
        if (seq === this.seq) this.fail(error.message);
      }
    }

    /** Show a list of options, or the no-match message (with did-you-mean from a /search answer). */
    render(items, q, answer) {
      this.items = items;
      this.active = -1;
      this.list.dataset.query = q;
      this.list.replaceChildren(...items.map((item, i) => {
        const option = el("li", { id: `gs-option-${i}`, role: "option", "aria-selected": "false" },
          el("span", { class: "term" }, item.term),
          el("span", { class: "field" }, FIELD_LABELS[item.field] || item.field.replace(/_/g, " ")));
        if (item.text) option.append(el("span", { class: "text" }, item.text));
        option.addEventListener("mousedown", (e) => e.preventDefault());  // keep focus in the input
        option.addEventListener("click", () => this.openEntry(item.id));
        return option;
      }));
      this.error.hidden = true;
      this.error.removeAttribute("role");
      this.status.classList.remove("empty");
      if (!q.trim()) this.status.textContent = "";
      else if (items.length) {
        const readAs = answer && answer.read_as ? ` for “${answer.read_as}”` : "";  // a misspelt name, read as the name
        this.status.textContent = `${items.length} ${items.length === 1 ? "entry" : "entries"} found${readAs}`;
      }
      else this.noMatch(answer);
      this.closeEntry(false);
      this.showList(items.length > 0);
    }

    /** Nothing found: say so in the live region, with the did-you-mean name as a button. */
    noMatch(answer) {
      this.status.classList.add("empty");
      if (!answer) return this.status.replaceChildren("No entry name starts like this; press Enter to search the definitions.");
      this.status.replaceChildren(answer.read_as ? `No entry matches “${answer.read_as}”.` : "No entry matches.");
      if (answer.did_you_mean) {
        const name = answer.did_you_mean;
        const button = el("button", { type: "button", class: "link" }, name);
        button.addEventListener("click", () => { this.search(name); this.input.focus(); });
        this.status.append(" Did you mean ", button, "?");
      }
    }

    /** A short message in place of the list: the API's own words for 4xx answers. */
    fail(text) {
      this.items = [];
      this.list.replaceChildren();
      this.showList(false);
      this.error.setAttribute("role", "alert");
      this.error.textContent = text;
      this.error.hidden = false;
      this.status.textContent = "";
      this.status.classList.remove("empty");
    }

    showList(show) {
      this.list.hidden = !show;
      this.input.setAttribute("aria-expanded", String(show));
      if (!show) this.setActive(-1);
    }

    setActive(index) {
      this.active = index;
      [...this.list.children].forEach((o, i) => o.setAttribute("aria-selected", String(i === index)));
      const option = this.list.children[index];
      if (option) {
        this.input.setAttribute("aria-activedescendant", option.id);
        option.scrollIntoView({ block: "nearest" });
      } else {
        this.input.removeAttribute("aria-activedescendant");
      }
    }

    /** Fetch one entry in full and show it in place of the list. */
    async openEntry(id) {
      clearTimeout(this.timer);
      ++this.seq;  // the entry was chosen from the list on screen: keep that list, drop pending ones
      const seq = ++this.entrySeq;
      try {
        const entry = await this.get(`/terms/${encodeURIComponent(id)}`);
        if (seq === this.entrySeq) this.showEntry(entry);
      } catch (error) {
        if (seq === this.entrySeq) this.fail(error.message);
      }
    }

    showEntry(entry) {
      const title = el("h2", { tabindex: "-1" }, entry.term);
      const close = el("button", { type: "button", class: "close", "aria-label": "Close entry" }, "Close");
      close.addEventListener("click", () => this.closeEntry());
      const parts = [el("header", {}, title, close)];
      if (entry.aliases.length) parts.push(el("p", { class: "text" }, `Also called: ${entry.aliases.join(", ")}`));
      if (entry.category) parts.push(el("p", { class: "text" }, entry.category));
      parts.push(el("p", {}, entry.definition));
      for (const [field, heading] of SECTIONS) {
        if (entry[field]) parts.push(el("section", {}, el("h3", {}, heading), el("p", {}, entry[field])));
      }
      if (entry.misconceptions.length) {
        parts.push(el("section", {}, el("h3", {}, "Misconceptions"),
          el("ul", {}, ...entry.misconceptions.map((m) => el("li", {}, m)))));
      }
      if (entry.related.length) {
        const links = entry.related.map((r) => {
          const button = el("button", { type: "button", class: "link" }, r.term);
          button.addEventListener("click", () => this.openEntry(r.id));
          return el("li", {}, button);
        });
        parts.push(el("nav", { "aria-label": "Related terms" }, el("h3", {}, "Related"), el("ul", { class: "related" }, ...links)));
      }
      this.entry.replaceChildren(...parts);
      this.entry.setAttribute("aria-label", entry.term);
      this.entry.hidden = false;
      this.error.hidden = true;
      this.showList(false);
      title.focus();
    }

    /** Hide the entry; back to the list it was opened from. */
    closeEntry(refocus = true) {
      if (this.entry.hidden) return;
      this.entry.hidden = true;
      this.entry.replaceChildren();
      ++this.entrySeq;
      if (refocus) {
        this.showList(this.items.length > 0);
        this.input.focus();
      }
    }
  }

  if (!customElements.get("glossary-search")) customElements.define("glossary-search", GlossarySearch);
})();
