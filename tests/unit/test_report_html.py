"""report.html on a hand-made sweep: a row per group and per job with their values, sortable headers, the charts
as files it links, every job's picture of every test image it wrote, nothing linked outside the sweep dir, every
value escaped; a single run's page; the pictures' files and index."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from colorization.io.test_pictures import picture_stem, read_pictures, spread, write_test_pictures
from colorization.reports.report_html import write_run_report
from colorization.reports.sweep_summary import main, summarize

# An id with everything HTML could trip on; the other ids as the sample dataset writes them.
IDS = ["sample:val/p0/0", 'folder:a<b>&"c\'.png', "sample:val/p1/2", "sample:val/p2/1"]
# job -> (model, seed, status); job 3 has no CSV log, job 4 failed, job 5 never ran, job 6's loss diverged, job 1
# wrote no pictures.
JOBS = {0: ("vanilla", 1, "ok"), 1: ("vanilla", 2, "ok"), 2: ("unet", 1, "ok"), 3: ("unet", 2, "ok"),
        4: ("resnet", 1, "failed"), 5: ("resnet", 2, "not_run"), 6: ("resnet", 3, "diverged")}
NO_PICTURES, NO_CSV_LOG = {1}, {3}


def _panels(n: int, shade: int) -> dict[str, np.ndarray]:
    return {name: np.full((n, 8, 8, 3), shade + k, dtype=np.uint8) for k, name in enumerate(("gray", "prediction",
                                                                                                 "truth"))}


def _job(sweep: Path, num: int) -> None:
    model, seed, status = JOBS[num]
    d = sweep / str(num)
    d.mkdir(parents=True)
    st = {"status": status, "model": model, "loss": "l1", "seed": seed, "overrides": [f"model={model}", f"seed={seed}"],
          "encoder_weights": "imagenet:timm/x" if model == "unet" else None, "wall_time_s": 75.5 + num,
          "started_at": f"2025-01-02T03:0{num}:00+00:00"}
    if status == "diverged":
        st["error"] = "the loss became nan at step 3; lower optimizer.lr"
        (d / "job_status.json").write_text(json.dumps(st))
        return
    if status != "ok":
        st["error"] = "RuntimeError: <boom> & bust"
        (d / "job_status.json").write_text(json.dumps(st))
        return
    shift = 2.0 if model == "unet" else 0.0
    st["metrics"] = {"test/psnr": 21.0 + shift, "test/ssim": 0.9, "test/auc": 0.8, "val/psnr_best": 20.5 + shift}
    (d / "job_status.json").write_text(json.dumps(st))
    with (d / "test_images.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "psnr", "psnr_gray", "ssim", "ssim_gray", "auc", "auc_gray", "cf", "cf_gray"])
        for i, image_id in enumerate(IDS):
            w.writerow([image_id, 20.0 + shift + 0.1 * i + 0.01 * seed, 17.0 + i, 0.8 + 0.01 * i, 0.7, 0.9, 0.8, 20, 0])
    if num not in NO_CSV_LOG:
        (d / "csv").mkdir()
        (d / "csv" / "metrics.csv").write_text("epoch,step,train/loss,val/psnr\n0,1,0.5,\n0,1,,18.5\n1,3,,19.25\n")
    if num not in NO_PICTURES:
        chosen = [IDS[i] for i in spread(len(IDS), 3)]
        write_test_pictures(d / "test_images", chosen, {k: v[: len(chosen)] for k, v in _panels(3, 10 * num).items()})


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    text: str = ""

    def all(self, tag: str, **want: str) -> list[Node]:
        """Descendants with ``tag`` whose attributes hold ``want`` (``class_``: one of the classes)."""
        out = []
        for c in self.children:
            classes = c.attrs.get("class", "").split()
            ok = c.tag == tag and all((v in classes) if k == "class_" else c.attrs.get(k.replace("_", "-")) == v
                                      for k, v in want.items())
            out += ([c] if ok else []) + c.all(tag, **want)
        return out

    def content(self) -> str:
        return self.text + "".join(c.content() for c in self.children)


class Tree(HTMLParser):
    VOID = {"meta", "img", "input", "br", "link"}

    def __init__(self, text: str) -> None:
        super().__init__()
        self.root = Node("root", {})
        self.stack = [self.root]
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_endtag(self, tag):
        if tag not in self.VOID:
            assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
            self.stack.pop()

    def handle_data(self, data):
        self.stack[-1].children.append(Node("#text", {}, text=data))


@pytest.fixture
def sweep(tmp_path) -> Path:
    sweep_dir = tmp_path / "multirun" / "2025-01-02" / "03-04-05-6789"
    for num in JOBS:
        _job(sweep_dir, num)
    write_run_report(sweep_dir / "0")  # train.py writes each job's own page; the sweep's links it
    (sweep_dir / "multirun.yaml").write_text(
        "hydra:\n  job:\n    name: train\n  overrides:\n    task:\n    - model=vanilla,unet,resnet\n    - seed=1,2\n")
    return sweep_dir


@pytest.fixture
def report(sweep) -> tuple[Path, Node, object]:
    summary = summarize(sweep, show=False, n_resamples=200)
    page = sweep / "report.html"
    return page, Tree(page.read_text()).root, summary


def _cells(row: Node) -> list[str]:
    return [td.content().strip() for td in row.all("td")]


def test_a_row_per_group_and_per_job_with_their_values(report):
    page, root, summary = report
    (groups_table,) = root.all("table", id="summary")
    groups = groups_table.all("tr", class_="group")
    assert [_cells(g)[:5] for g in groups] == [["vanilla", "l1", "no encoder", "2", "4"],
                                              ["unet", "l1", "ImageNet", "2", "4"],
                                              ["resnet", "l1", "no encoder", "0", "–"]]
    # The PSNR column sorts on the group's mean and shows it with its interval.
    psnr = [g.all("td")[5] for g in groups[:2]]
    assert [float(c.attrs["data-sort"]) for c in psnr] == pytest.approx([summary.groups[0]["psnr"],
                                                                         summary.groups[1]["psnr"]])
    g = summary.groups[1]
    assert psnr[1].content() == f"{g['psnr']:.2f}[{g['psnr_ci_low']:.2f}, {g['psnr_ci_high']:.2f}]"
    assert psnr[1].all("span", class_="ci")[0].content() == f"[{g['psnr_ci_low']:.2f}, {g['psnr_ci_high']:.2f}]"
    # resnet: one failed, one diverged, one never ran; the others all ok.
    assert [_cells(g)[-1] for g in groups] == ["–", "–", "1 failed · 1 diverged · 1 stopped"]
    head = [h.content().strip() for h in groups_table.all("th")]
    assert head[-4:] == ["ΔPSNR vs vanilla [CI], verdict", "ΔSSIM vs vanilla [CI], verdict",
                         "ΔAuC vs vanilla [CI], verdict", "jobs not ok"]
    # The paired difference against vanilla, its interval under it, the verdict under that; vanilla: "baseline".
    delta = groups[1].all("td")[-4]
    assert delta.content() == "+2.00[+2.00, +2.00]better" and float(delta.attrs["data-sort"]) == pytest.approx(2.0)
    assert "verdict-better" in delta.all("span", class_="badge")[0].attrs["class"]
    assert groups[0].all("td")[-4].content() == "baseline"

    (jobs_table,) = root.all("table", id="jobs")
    jobs = jobs_table.all("tr", class_="job")
    assert [j.attrs["data-job"] for j in jobs] == ["0", "1", "2", "3", "4", "5", "6"]
    cells = {j.attrs["data-job"]: _cells(j) for j in jobs}
    assert cells["2"][:8] == ["2", "unet", "l1", "1", "ImageNet", "ok", "", "1m 17.5s"]
    assert cells["2"][8:10] == ["22.50", "23.00"]  # best val PSNR, test PSNR
    assert cells["4"][5:7] == ["failed", "RuntimeError: <boom> & bust"] and cells["5"][5] == "not_run"
    # A diverged job is its own status, shown as a badge of its own colour and its row marked.
    assert cells["6"][5:7] == ["diverged", "the loss became nan at step 3; lower optimizer.lr"]
    (badge,) = jobs[6].all("span", class_="badge")
    assert "status-diverged" in badge.attrs["class"] and jobs[6].attrs["data-status"] == "diverged"
    assert cells["3"][13] == "no CSV log" and cells["1"][14] == "no pictures" and cells["0"][14] == "3"
    assert jobs[0].all("svg", class_="curve"), "a job with a CSV log gets its validation curve"
    assert [a.attrs["href"] for a in jobs[0].all("a")] == ["0/report.html"] and not jobs[1].all("a")
    # Every header sorts its column.
    for t in (groups_table, jobs_table):
        heads = t.all("th")
        assert heads and all("sortable" in h.attrs["class"] and h.attrs["data-type"] in ("number", "text")
                             for h in heads)
    header = root.all("header")[0].content()
    assert "python train.py -m model=vanilla,unet,resnet seed=1,2" in header and "vanilla" in header
    assert "2025-01-02T03:00:00+00:00" in header and "95%" in header
    assert "7 (1 failed, 1 diverged, 1 stopped)" in header


def test_the_conclusion_opens_the_page(report):
    page, root, summary = report
    (section,) = root.all("section", id="conclusion")
    assert root.all("header")[0].children[1] is section, "the conclusion comes right after the title"
    findings = [li.content() for li in section.all("li", class_="finding")]
    assert findings == summary.conclusion.sentences and len(findings) == 3  # PSNR, SSIM, AuC
    assert findings[0].startswith("PSNR ↑: best unet · ImageNet, ")
    assert "vanilla · no encoder 2.00 dB lower [-2.00, -2.00], clearly worse." in findings[0]
    cautions = [li.content() for li in section.all("li", class_="caution")]
    assert any("only 4 test images" in c for c in cautions) and any("3 of 7 jobs did not finish" in c
                                                                     for c in cautions)


def test_charts_are_files_the_page_links(report):
    page, root, _ = report
    charts = [img.attrs["src"] for img in root.all("img", class_="chart")]
    assert charts == ["report/study_psnr.png", "report/study_ssim.png", "report/study_auc.png",
                      "report/study_val_psnr.png"]
    for src in charts:
        assert (page.parent / src).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_image_browser_shows_every_jobs_picture_of_every_chosen_image(report, sweep):
    _, root, _ = report
    (section,) = root.all("section", id="images")
    rows = section.all("div", class_="image-row")
    chosen = [IDS[i] for i in spread(len(IDS), 3)]
    assert [r.attrs["data-image"] for r in rows] == chosen  # the escaped id reads back as it was
    for row, image_id in zip(rows, chosen, strict=True):
        stem = picture_stem(image_id)
        for job in ("0", "2", "3"):
            (fig,) = row.all("figure", class_="prediction", data_job=job)
            (img,) = fig.all("img")
            assert img.attrs["src"] == f"{job}/test_images/{stem}_prediction.png"
            psnr = 20.0 + (2.0 if job != "0" else 0.0) + 0.1 * IDS.index(image_id) + 0.01 * JOBS[int(job)][1]
            assert f"PSNR {psnr:.2f}" in fig.content()
        (missing,) = row.all("figure", class_="missing", data_job="1")
        assert "no pictures for this job" in missing.content() and not missing.all("img")
        assert not row.all("figure", data_job="4"), "a job that is not ok has no column"
        for panel in ("gray", "truth"):
            (img,) = row.all("figure", class_=panel)[0].all("img")
            assert img.attrs["src"] == f"0/test_images/{stem}_{panel}.png"
    assert "not_run, no pictures" in section.content()
    toggles = section.all("input", class_="job-toggle")
    assert [t.attrs["data-job"] for t in toggles] == ["0", "1", "2", "3"] and all("checked" in t.attrs for t in toggles)


def test_nothing_is_linked_outside_the_sweep_dir(report, sweep):
    page, root, _ = report
    text = page.read_text()
    refs = [(n.tag, n.attrs[a]) for tag in ("img", "a", "script", "link", "iframe", "source")
            for n in root.all(tag) for a in ("src", "href") if a in n.attrs]
    assert len(refs) == 4 + 3 * (2 + 3) + 1  # the charts; per image gray, truth and 3 predictions; job 0's page
    for tag, ref in refs:
        assert not ref.startswith(("http:", "https:", "//", "/", "file:", "data:")), (tag, ref)
        target = (page.parent / ref).resolve()
        assert target.is_relative_to(sweep.resolve()) and target.is_file(), ref
    assert "http://" not in text and "https://" not in text and "@import" not in text and "url(" not in text
    assert "<boom>" not in text and "&lt;boom&gt; &amp; bust" in text  # escaped


def test_command_line_rewrites_the_page(sweep):
    assert main([str(sweep), "--quiet", "--resamples", "100"]) == 0
    assert 'id="summary"' in (sweep / "report.html").read_text()


def test_single_run_page(tmp_path):
    run = tmp_path / "outputs" / "2025-01-02" / "03-04-05-1"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("- model=unet\n- trainer.max_epochs=2\n")
    (run / ".hydra" / "hydra.yaml").write_text("hydra:\n  runtime:\n    choices:\n      model: unet\n      loss: l1\n")
    (run / "metrics.json").write_text(json.dumps({"test/psnr": 22.25, "test/psnr_gray": 17.5, "val/psnr_best": 21.0}))
    (run / "csv").mkdir()
    (run / "csv" / "metrics.csv").write_text("epoch,step,val/psnr\n0,1,18.5\n1,3,19.25\n")
    with (run / "test_images.csv").open("w") as f:
        f.write("image,psnr,psnr_gray,ssim,ssim_gray\nsample:a,21.5,17.0,0.9,0.8\n")
    write_test_pictures(run / "test_images", ["sample:a"], _panels(1, 50))

    page = write_run_report(run, encoder_weights="imagenet:timm/resnet34.a1_in1k")
    root = Tree(page.read_text()).root
    rows = {r.attrs["data-metric"]: _cells(r) for r in root.all("tr", class_="metric")}
    assert rows == {"test/psnr": ["test/psnr", "22.2500", "17.5000"], "val/psnr_best": ["val/psnr_best", "21.0000", ""]}
    (chart,) = root.all("img", class_="chart")
    assert (run / chart.attrs["src"]).is_file()
    (fig,) = root.all("figure", class_="prediction")
    assert fig.all("img")[0].attrs["src"] == f"test_images/{picture_stem('sample:a')}_prediction.png"
    assert "PSNR 21.50" in fig.content() and "model=unet trainer.max_epochs=2" in root.all("header")[0].content()
    assert "ImageNet" in root.all("header")[0].content()  # where the encoder started, named as in the sweep page
    assert not root.all("fieldset") and "for every job" not in page.read_text()  # one run: no job selector

    (run / "csv" / "metrics.csv").unlink()  # no CSV log: the page says so instead of failing
    assert "No validation curve" in write_run_report(run).read_text()


def test_pictures_round_trip_and_stems_keep_ids_apart(tmp_path):
    ids = ["sample:a/b", "sample:a_b", "x" * 200]
    write_test_pictures(tmp_path / "run" / "test_images", ids, _panels(3, 0))
    found = read_pictures(tmp_path / "run", tmp_path)
    assert list(found) == ids and len({picture_stem(i) for i in ids}) == 3
    assert found[ids[0]]["truth"] == f"run/test_images/{picture_stem(ids[0])}_truth.png"
    assert len(picture_stem(ids[2])) < 60
    assert spread(8, 3) == [0, 4, 7] and spread(2, 12) == [0, 1] and spread(5, 0) == []
