"""A Samba Active Directory domain controller for the opt-in AD test (``BOHAI_TEST_SAMBA=1``; Debian packages
``samba``, ``samba-ad-dc``, ``samba-ad-provision``).

``start_samba`` provisions a domain (``AD.BOHAI.TEST``, no DNS) into a temp folder with ``samba-tool`` (about 15 s),
keeps only the LDAP services, allows simple binds without TLS (test only), and runs ``samba -i`` in the foreground
on the loopback interface — LDAP on 127.0.0.1:389, a fixed port: Samba cannot be given another. Samba logs no
readiness line, so the start waits on the process (bounded) between connection attempts. ``Samba.stop`` ends that
one process by its PID.
"""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.need import need_tool

REALM = "AD.BOHAI.TEST"
BASE = "DC=ad,DC=bohai,DC=test"
ADMIN_DN = f"CN=Administrator,CN=Users,{BASE}"
ADMIN_PASSWORD = "Adm1n-Secret-42"
URL = "ldap://127.0.0.1:389"


@dataclass
class Samba:
    proc: subprocess.Popen[bytes]
    url: str = URL
    base: str = BASE
    admin_dn: str = ADMIN_DN
    password: str = ADMIN_PASSWORD

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _conf(path: Path, folder: Path) -> None:
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        key = line.strip().split(" = ")[0]
        if key in ("server services", "interfaces", "log file"):
            continue
        lines.append(line)
        if line.strip() == "[global]":
            lines += [
                "\tserver services = ldap, cldap",
                "\tinterfaces = lo",
                "\tldap server require strong auth = no",
                f"\tpid directory = {folder}",
                f"\tlog file = {folder}/log.%m",
            ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def start_samba(folder: Path) -> Samba:
    tool = need_tool("samba-tool", "samba")
    samba = need_tool("samba", "samba-ad-dc")
    args = [tool, "domain", "provision", f"--targetdir={folder}", f"--realm={REALM}", "--domain=BOHAI"]
    args += ["--server-role=dc", "--dns-backend=NONE", f"--adminpass={ADMIN_PASSWORD}", "--host-name=dc1"]
    made = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
    conf = folder / "etc" / "smb.conf"
    _conf(conf, folder)
    proc = subprocess.Popen(
        [samba, "-i", "-M", "single", "-s", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    server = Samba(proc)
    for _ in range(600):  # at most a minute
        try:
            socket.create_connection(("127.0.0.1", 389), timeout=1).close()
            return server
        except OSError:
            try:
                proc.wait(timeout=0.1)  # no readiness line: wait on the process itself between attempts
            except subprocess.TimeoutExpired:
                continue
            raise RuntimeError(f"samba exited at start (code {proc.returncode})") from None
    server.stop()
    raise RuntimeError("samba did not listen on 127.0.0.1:389 within a minute")
