"""The example notebook, run top to bottom in a real Jupyter kernel against a temporary lab."""

import re
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "examples" / "backup_from_notebook.ipynb"


def cell(notebook, cell_id):
    return next(item for item in notebook.cells if item.get("id") == cell_id)


def printed(code_cell):
    """Everything a code cell printed to stdout."""
    return "".join(output.text for output in code_cell.outputs
                   if output.output_type == "stream" and output.name == "stdout")


def html_rows(html):
    """The <td> cells of each table row of an HTML fragment."""
    return [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", html)]


def test_notebook_dry_run_shows_the_report_table_and_sends_nothing(lab, monkeypatch):
    lab.write("data/csvs/plate1.csv", "well,od\nA1,0.12\n")
    lab.write("data/csvs/plate2.csv", "well,od\nA1,0.34\nA2,0.56\n")
    lab.write("data/results/summary.txt", "all plates read\n")
    config = lab.write_config("""\
        backups:
          name: nb
          log_file: logs/backup.log
          state_dir: state
          sources:
            csvs: {path: ../data/csvs}
            results: {path: ../data/results}
          destinations:
            secured: {base_path: ../backups/secured, create: true}
        """)
    monkeypatch.setenv("BACKUP_SYSTEM_CONFIG", str(config))  # the kernel process inherits it

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()

    errors = [output for item in notebook.cells if item.cell_type == "code"
              for output in item.outputs if output.output_type == "error"]
    assert not errors, "\n".join(f"{error.ename}: {error.evalue}" for error in errors)

    shown = [output.data["text/html"] for output in cell(notebook, "dry-run").outputs
             if output.output_type == "execute_result" and "text/html" in output.data]
    assert shown, "the report did not render as HTML"
    html = shown[0]
    assert "<table>" in html
    assert "<th>would send</th>" in html
    rows = {tuple(row[:2]): row for row in html_rows(html) if row}
    assert rows[("secured", "csvs")][2:5] == ["2", "0", "0"]  # would send, unchanged, failed
    assert rows[("secured", "results")][2:5] == ["1", "0", "0"]
    assert "dry run (nothing changed): all 2 jobs ok" in html
    would_send = re.findall(r"<li>(.*?)</li>", html)
    assert would_send == ["secured/csvs: would send plate1.csv", "secured/csvs: would send plate2.csv",
                          "secured/results: would send summary.txt"]

    per_job = printed(cell(notebook, "per-job"))
    csvs_bytes = len("well,od\nA1,0.12\n") + len("well,od\nA1,0.34\nA2,0.56\n")
    assert re.search(rf"secured / csvs\n\s+files_sent=2 bytes_sent={csvs_bytes} files_unchanged=0 files_failed=0\n",
                     per_job), per_job
    assert re.search(r"secured / results\n\s+files_sent=1 bytes_sent=16 files_unchanged=0 files_failed=0\n",
                     per_job), per_job
    assert "failures=() " in per_job  # a frozen record: a tuple of (path, reason)
    assert "report.ok = True" in per_job

    config_error = printed(cell(notebook, "config-error")).strip()
    assert config_error.startswith("ConfigError: ")
    assert "no-such-config.yaml" in config_error
    assert "\n" not in config_error  # one line, no traceback

    assert not (lab.root / "backups").exists(), "the dry run wrote to the destination"


def test_notebook_is_stored_clean_for_the_backup_system_kernel():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "backup-system"
    assert notebook.metadata.kernelspec.display_name == "Python (backup-system)"
    code = [item for item in notebook.cells if item.cell_type == "code"]
    assert code
    assert all(item.outputs == [] and item.execution_count is None for item in code)
    assert "sys.exit" not in NOTEBOOK.read_text()
