"""The HTML report: structure checked with the stdlib parser, rendering in real Chromium."""

from __future__ import annotations

import gzip
import os
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest

from scvae.plotting import plot_histogram, plot_scatter, plot_sorted_values, save_figure
from scvae.report import write_report

VOID_ELEMENTS = {"meta", "link", "img", "br", "hr", "input", "source", "wbr"}
METRICS = {
    "lower_bound": -512.345678,
    "kl_divergence": 20.5,
    "number_of_epochs": 10,
    "predictions": {
        "kmeans": {"number_of_clusters": 9, "adjusted_rand_index": 0.71234, "accuracy": 0.8},
        "model": {"number_of_clusters": 9, "adjusted_rand_index": 0.6, "accuracy": None},
    },
}
CONFIGURATION = {"model": {"type": "GMVAE", "latent_size": 10}, "note": "</pre><b>x</b>"}
#: Figures the report must show (relative to the folder), with awkward names.
FIGURES = [
    "learning_curves.png",
    "latent_space-z/latent_space-z-pca-labels.png",
    "latent_space-z/latent_space-z-pca-count_sum.png",
    "profile_comparisons/profile_comparison-cell #1-CD4+ T cells?-linear-sorted.png",
    "histograms/histogram-normed-counts-ünïcode & <b>.png",
]


class _Page(HTMLParser):
    """Collects images, links, ids and texts, and checks that tags nest properly."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.images.append(attributes["src"])
        if tag == "a" and "href" in attributes:
            self.links.append(attributes["href"])
        if "id" in attributes:
            self.ids.add(attributes["id"])
        if tag not in VOID_ELEMENTS:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unexpected </{tag}>")

    def handle_data(self, data):
        self.text.append(data)


def _parse(path: Path) -> _Page:
    parser = _Page()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def _make_folder(folder: Path) -> Path:
    """An evaluation folder with real figures, exports, a temp file and a sub-report."""
    rng = np.random.default_rng(0)
    for index, name in enumerate(FIGURES):
        if index % 2:
            figure = plot_scatter(rng.normal(size=(30, 2)), labels=rng.choice(["a", "b"], 30))
        else:
            figure = plot_histogram(rng.poisson(2.0, 50))
        save_figure(figure, folder / name, publication=index == 0)
    with gzip.open(folder / "latent_values-z.tsv.gz", "wt") as handle:
        handle.write("\tz1\nA\t0.5\n")
    (folder / "evaluation.h5ad").write_bytes(b"not read by the report")
    (folder / "metrics.json").write_text("{}")
    (folder / ".index.html.0123abcd.tmp").write_text("a half-written file")
    save_figure(plot_sorted_values([2.0, 1.0]), folder / "e_10-mc_1-iw_1" / "sub.png")
    write_report(folder / "e_10-mc_1-iw_1", title="sub", metrics={}, configuration={})
    return folder


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """The folder's files, drawn once per module (saving figures is the slow part)."""
    return _make_folder(tmp_path_factory.mktemp("template") / "run")


@pytest.fixture
def report(tmp_path, template) -> Path:
    folder = Path(shutil.copytree(template, tmp_path / "run 1"))
    return write_report(
        folder,
        title="GMVAE <script>alert(1)</script>",
        metrics=METRICS,
        configuration=CONFIGURATION,
    )


def _local_target(folder: Path, url: str) -> Path:
    parts = urlsplit(url)
    assert not parts.scheme and not parts.netloc, f"{url} is not a relative link"
    assert not parts.path.startswith("/"), f"{url} is absolute"
    return folder / unquote(parts.path)


def test_every_image_is_relative_and_exists(report):
    folder = report.parent
    page = _parse(report)
    assert page.errors == [] and page.stack == []
    targets = [_local_target(folder, source) for source in page.images]
    assert all(target.is_file() for target in targets)
    assert sorted(t.relative_to(folder).as_posix() for t in targets) == sorted(FIGURES)
    for link in page.links:
        if link.startswith("#"):
            assert link[1:] in page.ids
        else:
            assert _local_target(folder, link).is_file(), link


def test_exports_publication_versions_and_sub_reports_are_linked(report):
    page = _parse(report)
    linked = {unquote(link) for link in page.links}
    assert {"latent_values-z.tsv.gz", "evaluation.h5ad", "metrics.json"} <= linked
    assert "learning_curves.pdf" in linked
    assert "e_10-mc_1-iw_1/index.html" in linked
    assert "e_10-mc_1-iw_1/sub.png" not in {unquote(source) for source in page.images}
    assert not any(".tmp" in link for link in linked)


def test_text_is_escaped_and_metrics_are_shown(report):
    page = _parse(report)
    assert "script" not in page.tags and "b" not in page.tags
    text = "".join(page.text)
    assert "GMVAE <script>alert(1)</script>" in text
    assert '"note": "</pre><b>x</b>"' in text
    for shown in ("-512.3", "0.7123", "20.5", "Adjusted Rand index", "k-means", "GMVAE"):
        assert shown in text
    # names scvae writes get their titles; other names are shown as they are
    assert "ELBO" in text and "lower_bound" not in text and "number_of_epochs" in text
    assert "http://" not in report.read_text() and "https://" not in report.read_text()


def test_moved_folder_still_resolves(report, tmp_path):
    moved = Path(shutil.move(report.parent, tmp_path / "elsewhere"))
    page = _parse(moved / "index.html")
    assert all(_local_target(moved, source).is_file() for source in page.images)


def test_explicit_sections_and_outside_paths(tmp_path, template):
    folder = Path(shutil.copytree(template, tmp_path / "run"))
    path = write_report(
        folder,
        title="t",
        metrics={},
        configuration={},
        sections={"Learning": ["learning_curves.png"], "Latent": [folder / FIGURES[1]]},
    )
    page = _parse(path)
    assert [unquote(source) for source in page.images] == ["learning_curves.png", FIGURES[1]]
    assert {"figures-learning", "figures-latent"} <= page.ids
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"")
    with pytest.raises(ValueError, match="outside the report folder"):
        write_report(folder, title="t", metrics={}, configuration={}, sections={"x": [outside]})
    with pytest.raises(ValueError, match="not a file"):
        write_report(folder, title="t", metrics={}, configuration={}, sections={"x": ["no.png"]})
    assert not [name for name in os.listdir(folder) if name.endswith(".tmp") and "0123" not in name]


# Real browser ----------------------------------------------------------------------

CHROMIUM_ARGUMENTS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    path = os.environ.get("SCVAE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        pytest.skip("chromium is not installed (scripts/ensure-chromium.sh installs it)")
    return path


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        pytest.skip(f"playwright is missing ({error})")
    executable = _chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGUMENTS)
        yield launched
        launched.close()


def _open(browser, path: Path):
    """Load a page; return (images as [src, complete, naturalWidth], console errors)."""
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
    page.goto(path.as_uri(), wait_until="load", timeout=30_000)
    images = page.evaluate(
        "Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])"
    )
    title = page.title()
    page.close()
    return images, problems, title


def test_report_renders_in_chromium_with_every_image_loaded(browser, report):
    images, problems, title = _open(browser, report)
    assert title == "GMVAE <script>alert(1)</script>"
    assert len(images) == len(FIGURES)
    assert all(complete and width > 0 for _, complete, width in images), images
    assert problems == []


def test_browser_check_notices_a_missing_image(browser, report):
    (report.parent / FIGURES[0]).unlink()
    images, problems, _ = _open(browser, report)
    broken = [source for source, complete, width in images if not (complete and width > 0)]
    assert broken == [FIGURES[0]]
    assert problems


def test_metrics_then_figures_then_configuration_and_a_subtitle(tmp_path, template):
    folder = Path(shutil.copytree(template, tmp_path / "run"))
    path = write_report(
        folder, title="t", metrics=METRICS, configuration=CONFIGURATION, subtitle="data · run"
    )
    html = path.read_text()
    positions = [html.index(f'<section id="{name}">') for name in ("metrics", "configuration")]
    figures = html.index('<section id="figures-')
    assert positions[0] < figures < positions[1]
    assert "data · run" in "".join(_parse(path).text)


def test_many_metrics_are_turned_into_rows_and_empty_ones_dropped():
    from scvae.report.html import metrics_html

    names = ["accuracy", "adjusted_rand_index", "adjusted_rand_index_labels",
             "adjusted_mutual_information", "silhouette_score", "number_of_clusters", "extra_one"]  # fmt: skip
    rows = {
        method: {**{name: 0.5 for name in names}, "accuracy_superset": None}
        for method in ("kmeans", "model")
    }
    (html,) = metrics_html({"predictions": rows})
    page = _Page()
    page.feed(html)
    text = "".join(page.text)
    assert "superset" not in text  # empty in every row
    assert "Adjusted Rand index, predicted labels" in text and "extra_one" in text
    # a row per metric, a column per method: the header holds the two methods only
    header = html[html.index("<thead>") : html.index("</thead>")]
    assert header.count("<th>") == 3 and "k-means" in header
