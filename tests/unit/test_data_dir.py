"""The embedded PostgreSQL's directory is one place per user, whatever the current directory."""

from __future__ import annotations

import os

from broker.infra import settings as settings_mod


def test_the_default_data_dir_does_not_depend_on_the_current_directory(tmp_path, monkeypatch):
    env = {"HOME": str(tmp_path / "home")}
    monkeypatch.setenv("HOME", env["HOME"])
    seen = set()
    for cwd in (tmp_path, tmp_path / "a"):
        cwd.mkdir(exist_ok=True)
        monkeypatch.chdir(cwd)
        seen.add(settings_mod.load(env).database.data_dir)
    assert seen == {os.path.join(env["HOME"], ".local", "share", "broker")}


def test_xdg_data_home_and_broker_data_dir_choose_another(tmp_path):
    assert settings_mod.load({"XDG_DATA_HOME": "/srv/data"}).database.data_dir == "/srv/data/broker"
    assert settings_mod.load({"BROKER_DATA_DIR": "/var/lib/b", "XDG_DATA_HOME": "/x"}).database.data_dir == "/var/lib/b"


def test_a_command_names_the_database_it_uses_without_its_password():
    from broker.app.database import _where

    assert _where("postgresql://u:secret@db.example:5433/broker") == "db.example:5433/broker"
    assert _where("postgresql://postgres@/postgres?host=/tmp/x") == "/tmp/x/postgres"
