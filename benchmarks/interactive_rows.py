"""The rows of benchmarks/bench_interactive.py that time the pages: Classify, Few-shot, Binary,
Evaluate, LR Finder, Dataset. Each ``row_<name>(ctx)`` returns {label: seconds per repeat}."""

from __future__ import annotations

import re
import time

from interactive_browser import new_page, open_timed, option, settle, timed, wait_idle, widget


def row_classify(ctx) -> dict:
    page = ctx["page"]
    page.goto(ctx["url"] + "/classify")
    settle(page)
    stroke = canvas_stroker(page)
    out, cpu = [], []
    for i in range(ctx["repeats"] + 1):  # the first stroke is row classify_first's business: dropped here
        y = 40 + (i * 23) % 200
        cpu0 = ctx["server"].cpu_seconds()
        t = stroke([(60, y), (220, y + 15)], expect_strokes=i + 1)
        if i:
            out.append(t)
            cpu.append(ctx["server"].cpu_seconds() - cpu0)
    # Server CPU seconds per stroke (prediction, steps and saliency map): what load on the machine does
    # not inflate, unlike the wall-clock rows.
    return {"Classify: stroke -> new prediction": out, "Classify: server CPU per stroke (s, until idle)": cpu}


def canvas_stroker(page):
    canvas = page.locator(".fmnist-sketch canvas").first
    canvas.wait_for()
    box = canvas.bounding_box()

    def stroke(points, expect_strokes: int) -> float:
        page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=6)
        t0 = time.perf_counter()
        page.mouse.up()
        # The prediction's caption says how many strokes it answers ("Prediction after 3 strokes ...").
        page.wait_for_function(
            """(n) => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
                                  .some(e => e.innerText.includes('after ' + n + ' strokes'))""",
            arg=expect_strokes,
            polling="raf",
            timeout=120_000,
        )
        dt = time.perf_counter() - t0
        wait_idle(page)  # let the saliency map finish before the next stroke
        return dt

    return stroke


def row_classify_first(ctx) -> dict:
    out = []
    for _ in range(ctx["repeats"]):
        bctx, page = new_page(ctx["browser"], ctx["url"] + "/classify")
        try:
            settle(page)
            out.append(canvas_stroker(page)([(80, 60), (200, 220)], expect_strokes=1))
        finally:
            bctx.close()
    return {"Classify: first stroke after opening": out}


FEWSHOT_READY_JS = """() => document.body.innerText.includes('Five ways to learn')
    && !!document.querySelector('.st-key-fs_bars, [data-testid="stProgress"]')"""


def fewshot_ready(page) -> None:
    """The page is useful: the task, its images and the methods are drawn, and the comparison is
    either shown or running in the background with its progress bar (which polls every second, so
    the page never stays idle long enough for ``settle`` while a job runs)."""
    page.wait_for_function(FEWSHOT_READY_JS, timeout=300_000, polling=50)


def row_fewshot(ctx) -> dict:
    url = ctx["url"] + "/few_shot"
    first = []
    for _ in range(ctx["repeats"]):
        bctx, fresh = new_page(ctx["browser"])
        try:
            first.append(timed(lambda: fresh.goto(url), lambda: fewshot_ready(fresh)))
        finally:
            bctx.close()
    page = ctx["page"]
    page.goto(url)
    fewshot_ready(page)
    tasks = ["Flats vs heels: 216 validation boots", "Shoe types", "Flats vs heels"]
    switch = [
        timed(
            lambda: option(page, "fs_task", tasks[i % len(tasks)]).click(),
            lambda: (wait_idle(page), fewshot_ready(page)),
        )
        for i in range(ctx["repeats"])
    ]
    # The k-shot curve runs in the background. Timed: the click until its progress bar shows; while it
    # runs, a switch to another task until that task's page is ready (the page is not blocked); and
    # the click until the finished curve is drawn (after switching back).
    option(page, "fs_task", "Shoe types").click()
    wait_idle(page)
    fewshot_ready(page)
    go = widget(page, "fs_curve_go").locator("button")
    go.wait_for()  # the button shows once this task's comparison (a background job) is in
    t0 = time.perf_counter()
    go.click()
    page.locator('[data-testid="stProgress"]').filter(has_text="k-shot curve").first.wait_for()
    progress = time.perf_counter() - t0
    during = timed(
        lambda: option(page, "fs_task", "Flats vs heels").click(),
        lambda: page.wait_for_function(
            """() => document.body.innerText.includes('no curve')""", timeout=300_000, polling=50
        ),
    )
    option(page, "fs_task", "Shoe types").click()
    widget(page, "fs_curve").wait_for(timeout=900_000)
    done = time.perf_counter() - t0
    return {
        "Few-shot: first open": first,
        "Few-shot: switch task": switch,
        "Few-shot: k-shot curve click -> progress shown (1 repeat)": [progress],
        "Few-shot: switch task while the curve computes (1 repeat)": [during],
        "Few-shot: k-shot curve click -> curve drawn (1 repeat, background)": [done],
    }


def row_binary(ctx) -> dict:
    return {
        "Binary vs 10-class: first open": [
            open_timed(ctx["browser"], ctx["url"] + "/binary_study") for _ in range(ctx["repeats"])
        ]
    }


def row_evaluate(ctx) -> dict:
    url = ctx["url"] + "/evaluate"
    first = [
        open_timed(ctx["browser"], url, ready=lambda p: p.locator('[data-testid="stMetric"]').first.wait_for())
        for _ in range(ctx["repeats"])
    ]
    page = ctx["page"]
    page.goto(url)
    settle(page)
    switch = []
    for i in range(ctx["repeats"]):
        split = "validation" if i % 2 == 0 else "test"
        switch.append(timed(lambda: option(page, "eval_split", split).click(), lambda: wait_idle(page)))
    return {"Evaluate: first open": first, "Evaluate: switch split": switch}


SWEEP_CAPTION = re.compile(r"\d+ batches in ([\d.]+) s")  # the LR Finder page's "93 batches in 14.0 s"


def row_lrfinder(ctx) -> dict:
    page = ctx["page"]
    out, sweep = [], []
    for _ in range(max(1, ctx["train_repeats"])):
        page.goto(ctx["url"] + "/lr_finder")
        settle(page)
        box = widget(page, "lrf_model")
        box.click()
        page.get_by_role("option").filter(has_text=ctx["lr_preset"]).first.click()
        wait_idle(page)
        run = widget(page, "lrf_run").locator("button")
        out.append(
            timed(
                run.click,
                lambda: (wait_idle(page, timeout=600), page.get_by_text(re.compile("valley", re.I)).first.wait_for()),
            )
        )
        # The page's caption gives the sweep's own time inside the server: the rest is the page's.
        caption = page.get_by_text(SWEEP_CAPTION).first.inner_text()
        sweep.append(float(SWEEP_CAPTION.search(caption).group(1)))
    return {
        f"LR Finder on {ctx['lr_preset']} ({len(out)} repeats)": out,
        "LR Finder: the sweep itself (lr_find's seconds)": sweep,
    }


def row_dataset(ctx) -> dict:
    page = ctx["page"]
    page.goto(ctx["url"] + "/dataset")
    settle(page)
    split, stats = [], []
    for i in range(ctx["repeats"]):
        target = "train" if i % 2 == 0 else "test"
        split.append(timed(lambda: option(page, "ds_split", target).click(), lambda: wait_idle(page)))
    for _ in range(ctx["repeats"]):
        page.get_by_role("tab", name=re.compile("Browse")).click()
        wait_idle(page)
        tab = page.get_by_role("tab", name=re.compile("Class statistics"))
        stats.append(
            timed(
                tab.click,
                lambda: (
                    wait_idle(page),
                    page.locator('[data-testid="stPlotlyChart"], [data-testid="stVegaLiteChart"]').first.wait_for(),
                ),
            )
        )
    return {"Dataset: switch split": split, "Dataset: class statistics tab": stats}
