"""The course in a real JupyterLab, as a learner sees it: headless Chromium (Playwright, Debian's
browser) opens a notebook, runs it with Run → Run All Cells, and the test reads the rendered
page — what papermill and nbval cannot see: widgets (tqdm's progress bars, the quizzes and a
click on them), escaped HTML tables, a table's width against its output area, charts as
images, and the browser console.

Notebook 2 deploys the lab (progress bars, the Secret table, the quiz); notebook 6 shows
``kubectl top`` as a table and a chart on that deployment (its setup cell, ``lab.ensure``,
deploys whatever is missing, so it also runs alone).

The quiz layout, the ``QuizResult(...)`` line and the markdown of quiz prompts are checked in
tests of their own (``test_*quiz*``): they belong to labhelpers/quiz.py.

Every check of a page is collected before asserting, so one run reports every problem; a
failing test saves full-page and scrolled screenshots, the console log and the executed
notebook in the artefacts folder its message names (see conftest.py).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from jupyterlab_support import CHROMIUM, JupyterServer

from labhelpers import metrics
from labhelpers import results as lab_results

pytestmark = [
    pytest.mark.browser,
    pytest.mark.cluster,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed"),
]
playwright_api = pytest.importorskip("playwright.sync_api",
                                     reason="playwright (the test extra) not installed")

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

#: The quiz widget's choices (el: the quiz cell): each input with its row (the label or
#: the widget around it), boxes measured on screen, rows' text extent included (a wrapped
#: label whose text spills out of a one-line box overlaps the next choice).
QUIZ_LAYOUT_JS = """async (cell) => {
  const inputs = [...cell.querySelectorAll(
      '.jp-OutputArea-output input[type=radio], .jp-OutputArea-output input[type=checkbox]')];
  const area = cell.querySelector('.jp-Cell-outputArea');
  const out = [];
  for (const input of inputs) {
    const row = input.closest('label') || input.closest('.widget-checkbox') || input.parentElement;
    row.scrollIntoView({block: 'center'});
    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
    const box = b => ({left: b.left, right: b.right, top: b.top, bottom: b.bottom});
    const rowBox = box(row.getBoundingClientRect());
    const range = document.createRange(); range.selectNodeContents(row);
    const textBox = box(range.getBoundingClientRect());
    const st = getComputedStyle(input);
    // positions relative to the output area, so rows measured after different scrolls compare
    const a = area.getBoundingClientRect();
    const rel = b => ({left: b.left - a.left, right: b.right - a.left,
                       top: b.top - a.top, bottom: b.bottom - a.top});
    out.push({
      type: input.type, text: row.textContent.trim(),
      input: rel(box(input.getBoundingClientRect())), label: rel(rowBox),
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
    """Each choice's radio/checkbox is visible and inside the output area, beside its text;
    no two choices overlap (text included); no choice runs past the right edge."""
    problems = []
    if not layout:
        return ["the quiz shows no radio buttons or checkboxes"]
    for c in layout:
        i, row, label = c["input"], c["row"], c["label"]
        if not c["shown"] or i["right"] - i["left"] < 8 or i["bottom"] - i["top"] < 8:
            problems.append(f"choice {c['text'][:60]!r}: its {c['type']} is not visible "
                            f"({i['right'] - i['left']:.0f}x{i['bottom'] - i['top']:.0f} px)")
        middle = (i["top"] + i["bottom"]) / 2
        if not label["top"] - 1 <= middle <= label["bottom"] + 1:
            problems.append(f"choice {c['text'][:60]!r}: its {c['type']} is not beside its text "
                            f"(at y {middle:.0f}, the choice spans {label['top']:.0f}.."
                            f"{label['bottom']:.0f})")
        for other in layout:
            o = other["row"]
            if other is not c and min(i["right"], o["right"]) - max(i["left"], o["left"]) > 1 \
                    and min(i["bottom"], o["bottom"]) - max(i["top"], o["top"]) > 1:
                problems.append(f"choice {c['text'][:60]!r}: its {c['type']} lies under the "
                                f"choice {other['text'][:40]!r}")
        if i["left"] < -1 or i["right"] > c["areaWidth"] + 1:
            problems.append(f"choice {c['text'][:60]!r}: its {c['type']} is outside the "
                            f"output area (x {i['left']:.0f}..{i['right']:.0f})")
        if row["right"] > c["areaWidth"] + 2:
            problems.append(f"choice {c['text'][:60]!r} runs past the output area's right edge "
                            f"({row['right']:.0f} > {c['areaWidth']:.0f} px)")
    for n, a in enumerate(layout):
        for b in layout[n + 1:]:
            ra, rb = a["row"], b["row"]
            w = min(ra["right"], rb["right"]) - max(ra["left"], rb["left"])
            h = min(ra["bottom"], rb["bottom"]) - max(ra["top"], rb["top"])
            if w > 1 and h > 1:
                problems.append(f"choices overlap ({w:.0f}x{h:.0f} px): {a['text'][:50]!r} "
                                f"and {b['text'][:50]!r}")
    return problems


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


def test_deploy_quiz_is_widgets_that_grade_a_click(deploy_nb: Any, jupyter: JupyterServer
                                                   ) -> None:
    nb, _ = deploy_nb
    _, cell = nb.cell("labhelpers.quiz.quiz(")
    output = cell.locator(".jp-Cell-outputArea")
    problems = []
    radios = output.locator("input[type=radio]").count()
    boxes = output.locator("input[type=checkbox]").count()
    if radios < 4 or boxes < 2:
        problems.append(f"quiz widgets missing: {radios} radio buttons, {boxes} checkboxes")
        nb.fail(problems)
    # Q2: "What is the name of the backend's Service?" — the right answer, and only that one
    output.get_by_role("radio", name="ecommerce-backend", exact=True).click()
    output.get_by_role("button", name="Check").click()
    try:
        playwright_api.expect(output).to_contain_text(re.compile(r"Score:?\s*\d+\s*/\s*7"),
                                                      timeout=30_000)
    except AssertionError:
        problems.append("no 'Score: n/7' after clicking Check")
    shown = output.inner_text()
    score = re.search(r"Score:?\s*(\d+)\s*/\s*7", shown)
    if score and score[1] != "1":
        problems.append(f"score {score[1]}/7 after one right answer, expected 1/7")
    for verdict in (r"\b(right|correct)\b", r"not quite|\bwrong\b|\bincorrect\b"):
        # new after Check: the words may occur in a prompt or choice already
        if len(re.findall(verdict, shown, re.I)) <= len(re.findall(verdict, nb.quiz_text, re.I)):
            problems.append(f"no feedback matching {verdict!r} after Check: {shown[-300:]!r}")
    recorded = [doc["sections"].get("deploy", {}).get("quiz", {})
                for doc in lab_results.load(jupyter.results).values()]
    if [r.get("score") for r in recorded] != [1]:
        problems.append(f"results file (LAB_RESULTS_DIR) has {recorded!r}, expected score 1")
    problems += [f"browser console: {e}" for e in nb.console_errors()]
    nb.check(problems)


def test_deploy_quiz_after_grading_shows_no_quizresult_repr(deploy_nb: Any) -> None:
    """Depends on the quiz fix (labhelpers/quiz.py): the cell's return value was shown as
    ``QuizResult(deploy: not graded, 7 questions)`` under the score — stale once graded."""
    nb, _ = deploy_nb
    _, cell = nb.cell("labhelpers.quiz.quiz(")
    output = cell.locator(".jp-Cell-outputArea")
    if "Score" not in output.inner_text():  # graded by the test above; alone, grade here
        output.get_by_role("button", name="Check").click()
        playwright_api.expect(output).to_contain_text("Score", timeout=30_000)
    text = output.inner_text()
    nb.check([f"'QuizResult(' shown after grading: "
              f"{text[text.index('QuizResult('):][:80]!r}"] if "QuizResult(" in text else [])


def test_deploy_quiz_long_choices_keep_their_radio_and_do_not_overlap(deploy_nb: Any) -> None:
    """Depends on the quiz fix: a choice that wraps (question 4, ~175 characters) lost its
    radio circle and its second line covered the next choice."""
    nb, _ = deploy_nb
    _, cell = nb.cell("labhelpers.quiz.quiz(")
    layout = cell.evaluate(QUIZ_LAYOUT_JS)
    longest = max((c["text"] for c in layout), key=len, default="")
    problems = quiz_layout_problems(layout)
    if len(longest) < 100:
        problems.append(f"expected a long choice (question 4) in the quiz; longest: {longest!r}")
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
    """Depends on the quiz fix: the prompt "`kubectl top pods -n ecommerce-lab` answers ..."
    showed its backticks instead of code. Also the layout checks of the deploy quiz (its
    long choices about probes and exit codes)."""
    nb, _ = observability_nb
    _, cell = nb.cell("labhelpers.quiz.quiz(")
    text = nb.quiz_text
    problems = [] if "kubectl top pods" in text else ["the observability quiz is not shown"]
    problems += quiz_text_problems(text)
    problems += quiz_layout_problems(cell.evaluate(QUIZ_LAYOUT_JS))
    nb.check(problems)
