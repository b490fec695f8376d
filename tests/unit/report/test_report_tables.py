"""The results table in Markdown, terminal text and HTML."""

from defectlab.report.tables import HEADER, MISSING, fmt, html_table, markdown_table, text_table


def test_fmt_missing_and_undefined():
    assert fmt(None) == MISSING == "—"
    assert fmt(float("nan")) == MISSING
    assert fmt(0.91234) == "0.912" and fmt(12.345, 1) == "12.3"


def test_markdown_table(two_results):
    lines = markdown_table(two_results).splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("| detector | category | image AUROC")
    assert lines[1] == "|---|---|" + "|".join(["---:"] * (len(HEADER) - 2)) + "|"
    row = "| patchcore | mono | 0.912 [0.850, 0.970] | 0.800 | f1_optimal | 0.700 | 0.800 | 0.750 | 0.100 | 0.950 | 0.810 | 12.3 | 41.5 |"
    assert row == lines[2]
    # padim has no masks: pixel AUROC and AUPRO are None
    assert lines[3].endswith("| — | — | 12.3 | 41.5 |")


def test_markdown_escapes_pipes_and_handles_one_class(make_result):
    table = markdown_table([make_result("a|b", "c", n_anomalous=0)])
    assert "a\\|b" in table
    assert "| a\\|b | c | — | — | f1_optimal | 0.700 | — | — |" in table


def test_text_table_columns_line_up(two_results):
    lines = text_table(two_results).splitlines()
    assert len(lines) == 4 and set(lines[1]) <= {"-", " "}
    assert len({len(line) for line in lines}) == 1  # every row equally wide (last column right-aligned)
    assert "0.912 [0.850, 0.970]" in lines[2] and lines[3].rstrip().endswith("41.5")


def test_html_table_escapes(make_result):
    table = html_table([make_result("<script>", "a&b")])
    assert "<script>" not in table and "&lt;script&gt;" in table and "a&amp;b" in table
    assert table.count("<tr>") == 2 and 'class="num"' in table
