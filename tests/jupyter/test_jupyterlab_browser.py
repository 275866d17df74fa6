"""The course in a real JupyterLab, as a learner sees it: headless Chromium (Playwright, Debian's
browser) opens a notebook, runs it with Run → Run All Cells, and the test reads the rendered
page — what papermill and nbval cannot see: widgets (tqdm's progress bars, the quizzes and a
click on them), escaped HTML tables, a table's width against its output area, charts as
images, and the browser console.

Notebook 2 deploys the lab (progress bars, the Secret table, the quiz); notebook 6 shows
``kubectl top`` as a table and a chart on that deployment (its setup cell, ``lab.ensure``,
deploys whatever is missing, so it also runs alone).

The quizzes (labhelpers/quiz/) are found by their DOM classes (``lab-quiz*``) and their
choices by the text in the quiz YAML (the order is shuffled per learner): a click on a
choice's text ticks its box, a single choice unticks the other, Check grades and records,
long choices wrap beside their checkbox, prompts render `code`, no ``QuizResult(...)``.

Every check of a page is collected before asserting, so one run reports every problem; a
failing test saves full-page and scrolled screenshots, the console log and the executed
notebook in the artefacts folder its message names (see conftest.py).
"""

from __future__ import annotations

import html
import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from jupyterlab_support import CHROMIUM, JupyterServer
from tools import needs_tool, require_tool

from labhelpers import metrics
from labhelpers import quiz as labquiz
from labhelpers import results as lab_results

pytestmark = [
    pytest.mark.browser,
    pytest.mark.cluster,
    pytest.mark.timeout(900),
    needs_tool("chromium", Path(CHROMIUM).exists(), "apt-get install chromium"),
]
try:
    import playwright.sync_api as playwright_api
except ImportError:  # the test extra has it: fails on CI/root, skips the module elsewhere
    require_tool("playwright", None, "pip install playwright: the test extra has it")

#: Bounded waits (seconds). A notebook's Run All on 2 busy cores: 02 ~40 s, 06 ~60 s.
LOAD_TIMEOUT = 90
RUN_TIMEOUT = 360
VIEWPORT = {"width": 1280, "height": 900}  # a laptop screen, JupyterLab's file browser open

#: Console messages of type "error" we accept, each with why it is harmless. None so far:
#: an entry here must name the message and the reason.
KNOWN_HARMLESS_CONSOLE_ERRORS: dict[str, str] = {}

# ---------------------------------------------------------------- page scripts
#: Every code cell of the notebook on screen: prompt, source, outputs (mime type, text,
#: table cells, images). textContent, not innerText: cells off screen are not laid out.
CELLS_JS = """() => [...document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell')].map((c, i) => ({
  index: i,
  prompt: (c.querySelector('.jp-InputPrompt') || {}).textContent?.trim() ?? '',
  source: [...c.querySelectorAll('.jp-InputArea-editor .cm-line')].map(l => l.textContent)
          .join('\\n'),
  outputs: [...c.querySelectorAll('.jp-OutputArea-output')].map(o => ({
    mime: o.getAttribute('data-mime-type') || '',
    text: o.textContent,
    headers: [...o.querySelectorAll('table thead th')].map(th => th.textContent.trim()),
    rows: [...o.querySelectorAll('table tbody tr')].map(
        tr => [...tr.querySelectorAll('td')].map(td => td.textContent.trim())),
    images: [...o.querySelectorAll('img')].map(im => ({w: im.naturalWidth, h: im.naturalHeight})),
    progress: [...o.querySelectorAll('.widget-hprogress, .jupyter-widget-hprogress')].map(
        p => (p.querySelector('.progress-bar') || {style: {}}).style.width || ''),
  })),
}))"""

#: Busy: any cell queued or running ("[*]:"), or the kernel not idle. The status bar's
#: "Python 3 (ipykernel) | Idle" says a kernel is there (the toolbar's indicator also reads
#: idle while none is); Run All without one opens a "Select Kernel" dialog instead.
STATE_JS = """() => {
  const status = document.querySelector('.jp-StatusBar-TextItem[title^="Change kernel"]');
  return {
    prompts: [...document.querySelectorAll(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')]
        .map(p => p.textContent.trim()),
    kernel: status ? status.textContent.trim() : '',
    idle: !!document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) '
                                   + '.jp-Notebook-ExecutionIndicator[data-status="idle"]')
          && !!status && /^Python.*\\| Idle$/.test(status.textContent.trim()),
    dialog: !!document.querySelector('.jp-Dialog'),
  };
}"""
#: How long Run All may take to start running a first cell.
START_TIMEOUT = 60

#: Geometry of one cell's output area after scrolling it into view (el: the cell).
OUTPUT_BOX_JS = """async (cell) => {
  cell.scrollIntoView({block: 'start'});
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const area = cell.querySelector('.jp-Cell-outputArea');
  const out = [...cell.querySelectorAll('.jp-OutputArea-output')].find(o => o.querySelector('table'));
  const table = out && out.querySelector('table');
  const imgs = [...cell.querySelectorAll('.jp-OutputArea-output img')];
  const r = x => { const b = x.getBoundingClientRect();
                   return {left: b.left, right: b.right, top: b.top, bottom: b.bottom,
                           width: b.width, height: b.height}; };
  return {
    area: area && r(area), areaScroll: area && [area.scrollWidth, area.clientWidth],
    output: out && r(out), outputScroll: out && [out.scrollWidth, out.clientWidth],
    table: table && r(table), images: imgs.map(r),
    // lines each first-column cell takes (a pod name broken at its hyphens: 2)
    firstColumnLines: table ? [...table.querySelectorAll('tbody tr td:first-child')].map(td => {
      const range = document.createRange(); range.selectNodeContents(td);
      return new Set([...range.getClientRects()].map(b => Math.round(b.top))).size; }) : [],
  };
}"""

#: The quiz's choices (el: the quiz cell): each ``.lab-quiz-choice`` with its checkbox, its
#: label (the clickable row, box and text) and the text itself, measured on screen after
#: scrolling it into view; the text's extent is included (a wrapped text spilling out of a
#: one-line box overlaps the next choice) and its lines counted (a long choice must wrap).
QUIZ_LAYOUT_JS = """async (cell) => {
  const choices = [...cell.querySelectorAll('.jp-OutputArea-output .lab-quiz .lab-quiz-choice')];
  const area = cell.querySelector('.jp-Cell-outputArea');
  const out = [];
  for (const choice of choices) {
    const inputs = choice.querySelectorAll('input');
    const input = inputs[0];
    const row = (input && input.closest('label')) || choice;
    const text = row.querySelector(':scope > span') || row;
    row.scrollIntoView({block: 'center'});
    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
    const box = b => ({left: b.left, right: b.right, top: b.top, bottom: b.bottom});
    const rowBox = box(row.getBoundingClientRect());
    const range = document.createRange(); range.selectNodeContents(text);
    const textBox = box(range.getBoundingClientRect());
    const lines = new Set([...range.getClientRects()].filter(b => b.width > 0)
                          .map(b => Math.round(b.top))).size;
    const st = input ? getComputedStyle(input) : {visibility: 'hidden'};
    // positions relative to the output area, so rows measured after different scrolls compare
    const a = area.getBoundingClientRect();
    const rel = b => ({left: b.left - a.left, right: b.right - a.left,
                       top: b.top - a.top, bottom: b.bottom - a.top});
    const none = {left: 0, right: 0, top: 0, bottom: 0};
    out.push({
      inputs: [...inputs].map(i => i.type), type: input ? input.type : 'nothing',
      text: text.textContent.trim(), lines,
      input: input ? rel(box(input.getBoundingClientRect())) : none,
      label: rel(rowBox), textBox: rel(textBox),
      row: rel({left: Math.min(rowBox.left, textBox.left), right: Math.max(rowBox.right, textBox.right),
                top: Math.min(rowBox.top, textBox.top), bottom: Math.max(rowBox.bottom, textBox.bottom)}),
      areaWidth: a.width,
      shown: st.visibility !== 'hidden' && st.display !== 'none' && parseFloat(st.opacity) > 0.1,
    });
  }
  return out;
}"""


# ---------------------------------------------------------------- the notebook page
class NotebookPage:
    """One notebook in its own JupyterLab tab, the console collected from the start."""

    def __init__(self, browser: Any, server: JupyterServer, name: str, artefacts: Path) -> None:
        self.server, self.name, self.artefacts = server, name, artefacts
        self.page = browser.new_page(viewport=VIEWPORT)
        self.console: list[dict[str, str]] = []
        self.page.on("console", lambda m: self.console.append(
            {"type": m.type, "text": m.text, "where": json.dumps(m.location)}))
        self.page.on("pageerror", lambda e: self.console.append(
            {"type": "pageerror", "text": str(e), "where": ""}))
        self.run_seconds = 0.0
        self.quiz_text = ""
        self.failures = 0

    # ------------------------------------------------------------ actions
    def open(self) -> None:
        """Load JupyterLab with the notebook and wait until its kernel is started and idle."""
        self.page.goto(self.server.lab_url(self.name), timeout=LOAD_TIMEOUT * 1000)
        self.page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-CodeCell",
                                    timeout=LOAD_TIMEOUT * 1000)
        deadline = time.monotonic() + LOAD_TIMEOUT
        while not self.page.evaluate(STATE_JS)["idle"]:
            if time.monotonic() > deadline:
                self.fail([f"no idle kernel {LOAD_TIMEOUT}s after loading: "
                           f"{self.page.evaluate(STATE_JS)}"])
            time.sleep(0.5)

    def run_all(self, timeout: float = RUN_TIMEOUT) -> None:
        """Run → Run All Cells, then wait until no cell is queued or running and the kernel
        is idle (twice in a row, a second apart), or ``timeout``."""
        self.page.get_by_role("menuitem", name="Run", exact=True).click()
        self.page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()
        start = time.monotonic()
        deadline = start + timeout
        started = quiet = False
        while time.monotonic() < deadline:
            state = self.page.evaluate(STATE_JS)
            if state["dialog"]:
                dialog = self.page.locator(".jp-Dialog").first.inner_text()
                self.fail([f"a dialog opened on Run All: {dialog!r}"])
            if not started and time.monotonic() > start + START_TIMEOUT:
                self.fail([f"Run All ran no cell within {START_TIMEOUT}s: {state}"])
            busy = "[*]:" in state["prompts"]
            started = started or busy or any(re.fullmatch(r"\[\d+\]:", p)
                                             for p in state["prompts"])
            if started and not busy and state["idle"]:
                if quiet:
                    self.run_seconds = time.monotonic() - start
                    return
                quiet = True
            else:
                quiet = False
            time.sleep(1)
        self.fail([f"Run All did not finish within {timeout:.0f}s: prompts "
                   f"{self.page.evaluate(STATE_JS)['prompts']}"])

    def save(self) -> dict[str, Any]:
        """File → Save Notebook; the saved file as JSON (the kernel's outputs, authoritative
        for errors: the page renders tracebacks and stderr alike)."""
        path = self.server.root / self.name
        before = path.stat().st_mtime_ns
        self.page.get_by_role("menuitem", name="File", exact=True).click()
        self.page.locator(".lm-Menu-item[data-command='docmanager:save']").click()
        deadline = time.monotonic() + 30
        while path.stat().st_mtime_ns == before and time.monotonic() < deadline:
            time.sleep(0.2)
        if path.stat().st_mtime_ns == before:
            self.fail(["File → Save Notebook did not write the notebook within 30s"])
        time.sleep(0.5)  # the write is done when the mtime moved; let the rename settle
        return json.loads(path.read_text())

    def cells(self) -> list[dict[str, Any]]:
        return self.page.evaluate(CELLS_JS)

    def cell(self, needle: str) -> tuple[dict[str, Any], Any]:
        """The code cell whose source contains ``needle``: its data and element handle."""
        found = [c for c in self.cells() if needle in c["source"]]
        if not found:
            self.fail([f"no code cell with {needle!r} in {self.name}"])
        handles = self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook "
                                    ".jp-CodeCell")
        return found[0], handles.nth(found[0]["index"])

    def snapshot_quiz(self) -> None:
        """The quiz's text as first shown (prompts and choices; explanations come only
        after Check), before any test clicks in it."""
        _, cell = self.cell("labhelpers.quiz.quiz(")
        self.quiz_text = cell.locator(".jp-Cell-outputArea").inner_text()

    # ------------------------------------------------------------ evidence
    def console_errors(self) -> list[str]:
        return [f"{m['type']}: {m['text']} {m['where']}" for m in self.console
                if m["type"] in ("error", "pageerror")
                and not any(k in m["text"] for k in KNOWN_HARMLESS_CONSOLE_ERRORS)]

    def save_evidence(self, label: str) -> Path:
        """Full-page screenshot, the notebook scrolled top to bottom a screen at a time, the
        console log and the notebook as the server has it."""
        folder = self.artefacts / label
        folder.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(folder / "page.png"), full_page=True)
        scroller = self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) "
                                     ".jp-WindowedPanel-outer").first
        try:
            height, screen = scroller.evaluate("e => [e.scrollHeight, e.clientHeight]")
            for n, y in enumerate(range(0, height, max(200, screen - 80))):
                scroller.evaluate(f"e => {{ e.scrollTop = {y}; }}")
                time.sleep(0.3)
                self.page.screenshot(path=str(folder / f"notebook-{n:02d}.png"))
        except Exception as exc:  # evidence is best effort: keep what we have
            (folder / "scroll-error.txt").write_text(repr(exc))
        (folder / "console.json").write_text(json.dumps(self.console, indent=1))
        saved = self.server.root / self.name
        if saved.exists():
            shutil.copy(saved, folder / self.name)
        return folder

    def fail(self, problems: list[str]) -> None:
        self.failures += 1
        folder = self.save_evidence(f"{Path(self.name).stem}-{self.failures}")
        raise AssertionError(f"{self.name} in JupyterLab: " + "\n- ".join(["", *problems])
                             + f"\nscreenshots, console log and notebook: {folder}")

    def check(self, problems: list[str]) -> None:
        if problems:
            self.fail(problems)


# ---------------------------------------------------------------- checks
def run_problems(nb: NotebookPage, saved: dict[str, Any]) -> list[str]:
    """Every code cell ran, and none left an error (in the saved file or on the page)."""
    problems = []
    code = nb.cells()
    not_run = [c["index"] for c in code if not re.fullmatch(r"\[\d+\]:", c["prompt"])]
    if not_run:
        problems.append(f"code cells (0-based among code cells) not run: {not_run}")
    for n, cell in enumerate(c for c in saved["cells"] if c["cell_type"] == "code"):
        for out in cell.get("outputs", []):
            if out["output_type"] == "error":
                problems.append(f"code cell {n} raised {out['ename']}: {out['evalue'][:300]}")
    for c in code:
        for o in c["outputs"]:
            if "Traceback (most recent call last)" in o["text"] or re.search(
                    r"^-{20,}\n\w+(Error|Exception)", o["text"], re.M):
                problems.append(f"code cell {c['index']} shows a traceback: {o['text'][:300]}")
    return problems


def quiz_layout_problems(layout: list[dict[str, Any]]) -> list[str]:
    """Each choice is one checkbox, visible, inside the output area and beside its text's
    first line (left of the text, not under it); no two choices overlap (text included); no
    choice runs past the right edge; a long choice wraps onto more lines."""
    problems = []
    if not layout:
        return ["the quiz shows no .lab-quiz-choice rows"]
    for c in layout:
        i, row, label, text = c["input"], c["row"], c["label"], c["textBox"]
        name = repr(c["text"][:60])
        if c["inputs"] != ["checkbox"]:
            problems.append(f"choice {name}: expected one checkbox, found {c['inputs']}")
            continue
        if not c["text"]:
            problems.append("a choice's checkbox label holds no text (the text is not part "
                            "of the clickable row)")
            continue
        if not c["shown"] or i["right"] - i["left"] < 8 or i["bottom"] - i["top"] < 8:
            problems.append(f"choice {name}: its checkbox is not visible "
                            f"({i['right'] - i['left']:.0f}x{i['bottom'] - i['top']:.0f} px)")
        middle = (i["top"] + i["bottom"]) / 2
        if not label["top"] - 1 <= middle <= label["bottom"] + 1:
            problems.append(f"choice {name}: its checkbox is not beside its text "
                            f"(at y {middle:.0f}, the choice spans {label['top']:.0f}.."
                            f"{label['bottom']:.0f})")
        if not text["top"] - 2 <= middle <= text["top"] + 24:  # beside the first line
            problems.append(f"choice {name}: its checkbox (y {middle:.0f}) is not beside the "
                            f"text's first line (which starts at y {text['top']:.0f})")
        if i["right"] > text["left"] + 1:
            problems.append(f"choice {name}: its checkbox (x ..{i['right']:.0f}) is not left "
                            f"of its text (x {text['left']:.0f}..)")
        for other in layout:
            if not other["text"]:
                continue
            o = other["row"]
            if other is not c and min(i["right"], o["right"]) - max(i["left"], o["left"]) > 1 \
                    and min(i["bottom"], o["bottom"]) - max(i["top"], o["top"]) > 1:
                problems.append(f"choice {name}: its checkbox lies under the "
                                f"choice {other['text'][:40]!r}")
        if i["left"] < -1 or i["right"] > c["areaWidth"] + 1:
            problems.append(f"choice {name}: its checkbox is outside the "
                            f"output area (x {i['left']:.0f}..{i['right']:.0f})")
        if row["right"] > c["areaWidth"] + 2:
            problems.append(f"choice {name} runs past the output area's right edge "
                            f"({row['right']:.0f} > {c['areaWidth']:.0f} px)")
    measured = [c for c in layout if c["text"]]
    for n, a in enumerate(measured):
        for b in measured[n + 1:]:
            ra, rb = a["row"], b["row"]
            w = min(ra["right"], rb["right"]) - max(ra["left"], rb["left"])
            h = min(ra["bottom"], rb["bottom"]) - max(ra["top"], rb["top"])
            if w > 1 and h > 1:
                problems.append(f"choices overlap ({w:.0f}x{h:.0f} px): {a['text'][:50]!r} "
                                f"and {b['text'][:50]!r}")
    unique = list(dict.fromkeys(problems))  # one line per kind of fault is enough to read
    return unique[:20] + ([f"... and {len(unique) - 20} more"] if len(unique) > 20 else [])


def quiz_structure_problems(output: Any, section: str) -> list[str]:
    """The quiz is the labhelpers widgets, one ``.lab-quiz`` with a prompt, an answer and
    a feedback per question of the YAML, one checkbox per choice (no radio buttons), a
    text box for a short answer, and a score line."""
    problems = []
    quizzes = output.locator(".lab-quiz").count()
    if quizzes != 1:
        return [f"{quizzes} .lab-quiz widgets in the quiz cell, expected 1"]
    quiz = output.locator(".lab-quiz")
    questions = labquiz.load(section).questions
    for role in ("prompt", "answer", "feedback"):
        found = quiz.locator(f".lab-quiz-{role}").count()
        if found != len(questions):
            problems.append(f"{found} .lab-quiz-{role} in the quiz, expected {len(questions)}")
    for q in questions:
        answer = quiz.locator(f".lab-quiz-answer.lab-quiz-q-{q.id}")
        if q.choices:
            rows = answer.locator(".lab-quiz-choice")
            # ipywidgets puts a zero-width space in the (hidden) description label
            texts = sorted(t.replace("\u200b", "").strip() for t in rows.all_text_contents())
            boxes = answer.locator(".lab-quiz-choice input[type=checkbox]").count()
            if texts != sorted(shown_text(c) for c in q.choices) or boxes != len(q.choices):
                problems.append(f"question {q.id}: choices {texts} with {boxes} checkboxes, "
                                f"expected one checkbox per choice of the YAML")
        elif answer.locator("input[type=text]").count() != 1:
            problems.append(f"question {q.id}: no text box for a short answer")
    radios = quiz.locator("input[type=radio]").count()
    if radios:
        problems.append(f"{radios} radio buttons in the quiz (each choice is a checkbox)")
    if quiz.locator(".lab-quiz-score").count() != 1:
        problems.append("no .lab-quiz-score in the quiz")
    return problems


def shown_text(choice: str) -> str:
    """A choice from the YAML as the page shows it: its inline markdown rendered."""
    return html.unescape(re.sub(r"<[^>]+>", "", labquiz.markdown_html(choice)))


def choice(output: Any, qid: str, text: str) -> tuple[Any, Any]:
    """Question ``qid``'s choice ``text`` (YAML spelling): its checkbox and its text, found
    by the text (the order is shuffled per learner)."""
    row = output.locator(f".lab-quiz-answer.lab-quiz-q-{qid} .lab-quiz-choice").filter(
        has_text=re.compile("^[\\s\u200b]*" + re.escape(shown_text(text)) + "\\s*$"))
    # the words themselves (the smallest element holding them), where a learner clicks
    return row.locator("input[type=checkbox]"), row.get_by_text(shown_text(text), exact=True)


def quiz_text_problems(text: str) -> list[str]:
    """The questions and choices as shown before grading (the explanations come after):
    markdown rendered, so no literal backticks."""
    return [f"literal backtick in the quiz (markdown not rendered): "
            f"{text[max(0, m.start() - 60):m.start() + 60]!r}"
            for m in re.finditer("`", text)][:5]


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def deploy_nb(chromium: Any, jupyter: JupyterServer, artefacts: Path) -> Any:
    """02-deploy.ipynb run to the end in JupyterLab (the lab deployed), and its saved file."""
    nb = NotebookPage(chromium, jupyter, "02-deploy.ipynb", artefacts)
    nb.open()
    nb.run_all()
    print(f"{nb.name}: Run All took {nb.run_seconds:.0f}s")
    saved = nb.save()
    nb.snapshot_quiz()
    yield nb, saved
    nb.page.close()


@pytest.fixture(scope="module")
def observability_nb(chromium: Any, jupyter: JupyterServer, artefacts: Path,
                     deploy_nb: Any) -> Any:
    """06-observability.ipynb run to the end (after 02: the state a learner has then)."""
    nb = NotebookPage(chromium, jupyter, "06-observability.ipynb", artefacts)
    nb.open()
    nb.run_all()
    print(f"{nb.name}: Run All took {nb.run_seconds:.0f}s")
    saved = nb.save()
    nb.snapshot_quiz()
    yield nb, saved
    nb.page.close()


# ---------------------------------------------------------------- 02: deploy
def test_deploy_runs_with_progress_widgets_and_an_escaped_secret_table(deploy_nb: Any) -> None:
    nb, saved = deploy_nb
    problems = run_problems(nb, saved)
    cells = nb.cells()
    bars = [w for c in cells for o in c["outputs"] for w in o["progress"]]
    # one bar per tier deploy() waits for: database, cache, cart, backend, frontend
    if len(bars) < 5:
        problems.append(f"{len(bars)} tqdm progress widgets rendered, expected one per tier (5)")
    if any(w != "100%" for w in bars):
        problems.append(f"progress bars not full at the end: {bars}")
    text_bars = [o["text"][:120] for c in cells for o in c["outputs"]
                 if o["mime"] == "application/vnd.jupyter.stderr" and "█" in o["text"]]
    if text_bars:
        problems.append(f"tqdm fell back to text bars (no widgets): {text_bars}")
    secret, _ = nb.cell('lab.secret("postgres-secret")')
    values = [row[-1] for o in secret["outputs"] for row in o["rows"]]
    if not values or not all(re.fullmatch(r"<redacted: \d+ bytes>", v) for v in values):
        problems.append(f"the Secret table's value cells show {values!r}, expected "
                        "'<redacted: N bytes>' (HTML not escaped?)")
    problems += [f"browser console: {e}" for e in nb.console_errors()]
    nb.check(problems)


def test_deploy_shop_link_opens_the_shop_through_jupyterlab(deploy_nb: Any) -> None:
    """Step 7's link (the lab text's step 8), clicked as a learner clicks it: JupyterLab's
    own server proxies it (jupyter-server-proxy, in the lab extra), the shop lists its
    products through it, and Add to cart and checkout — POSTs to the cart service and the
    backend, relative to the proxied page — place an order."""
    nb, _ = deploy_nb
    problems: list[str] = []
    link = nb.page.locator(".jp-OutputArea a", has_text="Open the shop").first
    href = link.get_attribute("href") or ""
    if not re.fullmatch(r"/proxy/\d+/", href):
        nb.check([f"the shop link is {href!r}, expected /proxy/<port>/ (jupyter-server-proxy "
                  "is installed in this server's environment)"])
    with nb.page.context.expect_page(timeout=LOAD_TIMEOUT * 1000) as opened:
        link.click()
    shop = opened.value
    errors: list[str] = []
    shop.on("pageerror", lambda e: errors.append(str(e)))
    shop.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        shop.wait_for_load_state()
        if not shop.url.endswith(href):
            problems.append(f"the link opened {shop.url}, not the server's {href}")
        add = shop.locator("#products button.add:not([disabled])").first
        add.wait_for(timeout=LOAD_TIMEOUT * 1000)
        add.click()
        # selectors, not wait_for_function: the shop's CSP (default-src 'self') forbids eval
        shop.wait_for_selector("#cart-count:text-is('1')", timeout=LOAD_TIMEOUT * 1000)
        shop.goto(shop.url.split("#")[0] + "#/cart")
        shop.fill("#name", "Lab Learner")
        shop.fill("#email", "learner@example.com")
        shop.click("#place-order")
        shop.locator("#order-summary", has_text=re.compile(r"^Order #\d+ is confirmed")
                     ).wait_for(timeout=LOAD_TIMEOUT * 1000)
        shop.screenshot(path=str(nb.artefacts / "shop-through-jupyterlab.png"))
    except playwright_api.Error as exc:
        problems.append(f"the shop through {href}: {exc}")
        shop.screenshot(path=str(nb.artefacts / "shop-through-jupyterlab.png"))
    finally:
        shop.close()
    problems += [f"shop page console: {e}" for e in errors]
    nb.check(problems)


def test_deploy_quiz_is_widgets_that_grade_a_click(deploy_nb: Any, jupyter: JupyterServer
                                                   ) -> None:
    """The quiz renders as its widgets; a click on the right answer's text ticks its box,
    Check shows the feedback and "Score: 1/N" and the results file records 1."""
    nb, _ = deploy_nb
    _, cell = nb.cell("labhelpers.quiz.quiz(")
    output = cell.locator(".jp-Cell-outputArea")
    problems = quiz_structure_problems(output, "deploy")
    if problems:
        nb.fail(problems)
    quiz = labquiz.load("deploy")
    total = len(quiz.questions)
    right = next(q for q in quiz.questions if q.id == "backend-service")
    box, text = choice(output, right.id, right.answer[0])
    text.click()  # the learner clicks the words, not the small box
    try:
        playwright_api.expect(box).to_be_checked(timeout=10_000)
    except AssertionError:
        problems.append(f"clicking the text {right.answer[0]!r} did not tick its checkbox")
        box.click()
    output.get_by_role("button", name="Check").click()
    score = output.locator(".lab-quiz-score")
    try:
        playwright_api.expect(score).to_contain_text(f"Score: 1/{total}", timeout=30_000)
    except AssertionError:
        problems.append(f"the score line shows {score.inner_text()!r} after one right answer "
                        f"and Check, expected 'Score: 1/{total}'")
    feedback = {q.id: output.locator(f".lab-quiz-feedback.lab-quiz-q-{q.id}").inner_text()
                for q in quiz.questions}
    if not re.search(r"\bRight\b", feedback[right.id]):
        problems.append(f"no 'Right' feedback for {right.id}: {feedback[right.id]!r}")
    wrong = {k: v for k, v in feedback.items() if k != right.id and "Not quite" not in v}
    if wrong:
        problems.append(f"no 'Not quite' feedback for the unanswered questions: {wrong}")
    recorded = [doc["sections"].get("deploy", {}).get("quiz", {})
                for doc in lab_results.load(jupyter.results).values()]
    if [(r.get("score"), r.get("total")) for r in recorded] != [(1, total)] or \
            recorded[0].get("per_question", {}).get(right.id) is not True:
        problems.append(f"results file (LAB_RESULTS_DIR) has {recorded!r}, expected score "
                        f"1/{total} with {right.id} right")
    problems += [f"browser console: {e}" for e in nb.console_errors()]
    nb.check(problems)


def test_deploy_quiz_single_choice_unticks_the_other(deploy_nb: Any) -> None:
    """A single-choice question behaves as radio buttons: ticking a second choice unticks
    the first (the kernel does it: a round trip, so waited for). Two wrong choices, so a
    later Check still scores what the test above expects."""
    nb, _ = deploy_nb
    _, cell = nb.cell("labhelpers.quiz.quiz(")
    output = cell.locator(".jp-Cell-outputArea")
    q = next(x for x in labquiz.load("deploy").questions if x.id == "configmap-env")
    first, second = [c for c in q.choices if c not in q.answer][:2]
    (box1, text1), (box2, _) = choice(output, q.id, first), choice(output, q.id, second)
    problems = []
    text1.click()
    try:
        playwright_api.expect(box1).to_be_checked(timeout=10_000)
    except AssertionError:
        problems.append(f"clicking the text {first[:50]!r} did not tick its checkbox")
        box1.click()
    box2.click()
    try:
        playwright_api.expect(box1).not_to_be_checked(timeout=15_000)
    except AssertionError:
        problems.append(f"single choice {q.id}: ticking {second[:40]!r} left {first[:40]!r} "
                        f"ticked after 15 s")
    if not box2.is_checked():
        problems.append(f"single choice {q.id}: {second[:40]!r} is not ticked after its click")
    problems += [f"browser console: {e}" for e in nb.console_errors()]
    nb.check(problems)


def test_deploy_quiz_after_grading_shows_no_quizresult_repr(deploy_nb: Any) -> None:
    """The cell's return value was shown as ``QuizResult(deploy: not graded, 7 questions)``
    under the score — stale once graded."""
    nb, _ = deploy_nb
    _, cell = nb.cell("labhelpers.quiz.quiz(")
    output = cell.locator(".jp-Cell-outputArea")
    score = output.locator(".lab-quiz-score")
    if "Score" not in score.inner_text():  # graded by the test above; alone, grade here
        output.get_by_role("button", name="Check").click()
        playwright_api.expect(score).to_contain_text("Score", timeout=30_000)
    text = output.inner_text()
    nb.check([f"'QuizResult(' shown after grading: "
              f"{text[text.index('QuizResult('):][:80]!r}"] if "QuizResult(" in text else [])


def test_deploy_quiz_long_choices_wrap_beside_their_checkbox(deploy_nb: Any) -> None:
    """A choice that wraps (question why-secret, ~130 characters) keeps its checkbox beside
    its first line and does not cover the next choice; no backticks in the prompts."""
    nb, _ = deploy_nb
    _, cell = nb.cell("labhelpers.quiz.quiz(")
    layout = cell.evaluate(QUIZ_LAYOUT_JS)
    problems = quiz_layout_problems(layout)
    longest = max(layout, key=lambda c: len(c["text"]), default={"text": "", "lines": 0})
    if len(longest["text"]) < 100:
        problems.append(f"expected a long choice in the quiz; longest: {longest['text']!r}")
    elif longest["lines"] < 2:
        problems.append(f"the longest choice takes {longest['lines']} line(s) at "
                        f"{VIEWPORT['width']} px: not wrapped ({longest['text'][:60]!r})")
    problems += quiz_text_problems(nb.quiz_text)
    nb.check(problems)


# ---------------------------------------------------------------- 06: observability
def test_observability_top_table_fits_and_chart_renders(observability_nb: Any) -> None:
    nb, saved = observability_nb
    problems = run_problems(nb, saved)
    top, top_cell = nb.cell("lab.top()")
    tables = [o for o in top["outputs"] if o["headers"]]
    if not tables:
        nb.fail([*problems, "the lab.top() cell shows no table"])
    table = tables[0]
    if table["headers"] != metrics.COLUMNS:
        problems.append(f"top table columns {table['headers']}, expected {metrics.COLUMNS}")
    if ".000000" in table["text"]:
        problems.append("top table shows six-decimal floats (.000000)")
    patterns = {"cpu m": r"\d+", "mem Mi": r"\d+(\.\d)?"}
    for col, pattern in [(c, patterns.get(c, r"\d+(\.\d)?")) for c in metrics.COLUMNS[2:]]:
        if col not in table["headers"]:
            continue
        k = table["headers"].index(col)
        bad = [r[k] for r in table["rows"] if not re.fullmatch(pattern + "|—", r[k])]
        if bad:
            problems.append(f"top column {col!r} shows {bad} (expected {pattern})")
    if len(table["rows"]) < 7:
        problems.append(f"top table has {len(table['rows'])} rows, expected the lab's 7 pods")
    box = top_cell.evaluate(OUTPUT_BOX_JS)
    scroll_w, client_w = box["outputScroll"]
    if scroll_w > client_w + 2:
        problems.append(f"top table overflows its output ({scroll_w} px of content in "
                        f"{client_w} px): it needs a horizontal scrollbar")
    wrapped = [r[0] for r, lines in zip(table["rows"], box["firstColumnLines"], strict=False)
               if lines > 1]
    if wrapped:
        problems.append(f"pod names broken over lines in the top table: {wrapped}")
    if box["table"]["right"] > box["area"]["right"] + 2:
        problems.append(f"top table runs past the output area's right edge "
                        f"({box['table']['right']:.0f} > {box['area']['right']:.0f})")
    for needle in ("lab.plot_top(", "lab.plot_timeline()"):
        chart, chart_cell = nb.cell(needle)
        images = [im for o in chart["outputs"] for im in o["images"]]
        shown = chart_cell.evaluate(OUTPUT_BOX_JS)["images"]
        if not images or images[0]["w"] < 400 or images[0]["h"] < 150:
            problems.append(f"{needle}: no chart image of a real size ({images})")
        elif not shown or shown[0]["width"] < 300 or shown[0]["height"] < 100:
            problems.append(f"{needle}: the chart image is not shown at a usable size {shown}")
    problems += [f"browser console: {e}" for e in nb.console_errors()]
    nb.check(problems)


def test_observability_quiz_prompts_render_markdown(observability_nb: Any) -> None:
    """The prompt "`kubectl top pods -n ecommerce-lab` answers ..." shows code, not
    backticks; the quiz's structure and layout as in the deploy quiz."""
    nb, _ = observability_nb
    _, cell = nb.cell("labhelpers.quiz.quiz(")
    output = cell.locator(".jp-Cell-outputArea")
    text = nb.quiz_text
    problems = [] if "kubectl top pods" in text else ["the observability quiz is not shown"]
    problems += quiz_structure_problems(output, "observability")
    codes = output.locator(".lab-quiz-prompt.lab-quiz-q-top-needs code").all_text_contents()
    if "kubectl top pods -n ecommerce-lab" not in codes:
        problems.append(f"the top-needs prompt's `kubectl top pods…` is not a <code> ({codes})")
    problems += quiz_text_problems(text)
    problems += quiz_layout_problems(cell.evaluate(QUIZ_LAYOUT_JS))
    nb.check(problems)
