# SPDX-License-Identifier: MIT
"""make install as an operator would use it: into a DESTDIR, the systemd
units are substituted and pass `systemd-analyze verify`, the data directory
and nginx's upload temp directory exist, and an existing server block that
includes the installed snippets passes `nginx -t` before the runner has ever
run."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import helpers

PREFIX = "/usr/local"  # ./dev configures with the default prefix


@pytest.fixture(scope="module")
def dest(tmp_path_factory):
    d = tmp_path_factory.mktemp("install") / "dest"
    r = subprocess.run(["make", "-s", "-C", str(helpers.BUILD), f"DESTDIR={d}", "install"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return d


def _moved(dest, text):
    """The installed text with every path of the prefix moved under DESTDIR."""
    return text.replace(f"{PREFIX}/", f"{dest}{PREFIX}/")


def test_units_are_substituted_and_verify(dest, tmp_path):
    tool = shutil.which("systemd-analyze")
    assert tool, "systemd-analyze is missing (Debian's systemd package)"
    units = sorted((dest / PREFIX.lstrip("/") / "lib/systemd/system").glob("*.service"))
    assert [u.name for u in units] == ["hostagent-fcgi.service", "hostagent-runner.service"]
    moved = []
    for u in units:
        text = u.read_text()
        assert "@" not in text, f"{u.name} is not substituted:\n{text}"
        assert f"ExecStart={PREFIX}/sbin/{u.stem} -c {PREFIX}/etc/hostagent/hostagent.conf" \
            in text, text
        (tmp_path / u.name).write_text(_moved(dest, text))
        moved.append(str(tmp_path / u.name))
    r = subprocess.run([tool, "verify", "--man=no", *moved], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "fatal" not in r.stderr, r.stderr


def test_nginx_accepts_the_snippets_before_the_runner_ran(dest, tmp_path):
    data = dest / PREFIX.lstrip("/") / "var/lib/hostagent"
    assert (data / "tmp" / "upload").is_dir(), "the upload temp directory is not installed"
    assert oct(os.stat(data / "tmp" / "upload").st_mode & 0o777) == "0o750"
    conf = dest / PREFIX.lstrip("/") / "etc/nginx"
    for f in list(conf.rglob("*.conf")):
        f.write_text(_moved(dest, f.read_text()))
    prefix = tmp_path / "nginx"
    for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"):
        (prefix / t).mkdir(parents=True)
    port = helpers.free_ports(1)[0]
    (prefix / "nginx.conf").write_text(f"""
pid {prefix}/nginx.pid;
error_log stderr;
events {{}}
http {{
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    access_log off;
    include {conf}/conf.d/hostagent.conf;
    # an operator's existing server block
    server {{
        listen 127.0.0.1:{port};
        server_name example.test;
        include {conf}/snippets/hostagent.conf;
    }}
}}
""")
    r = subprocess.run([helpers.NGINX_BIN, "-t", "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                        "-e", "stderr"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
