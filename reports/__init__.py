"""Run results: the model (`model.py`), how it is built from a run (`build.py`), and one writer per
format (`json_writer.py`, `junit_writer.py`, `html_writer.py`) over that one model."""
