"""`edge provision` against a real partitioned disk image (sfdisk, mkfs.vfat --offset,
mkfs.ext4 -d) read back with mtools, against a plain boot directory, and firstrun.sh against a
fake root. Needs the Debian packages fdisk, dosfstools, e2fsprogs and mtools.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from edge.provision import __main__ as provision_main
from edge.provision import render
from edge.provision.examples import render_examples

REPO = Path(__file__).resolve().parents[1]
SECTOR = 512
FAT_START = 8192  # sectors: 4 MiB, like Raspberry Pi OS images
FAT_SECTORS = 131072  # 64 MiB
ROOT_START = FAT_START + FAT_SECTORS
ROOT_SECTORS = 32768  # 16 MiB
FAT_OFFSET = FAT_START * SECTOR
CMDLINE = (
    "console=serial0,115200 console=tty1 root=PARTUUID=6c586e13-02 rootfstype=ext4 "
    "fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n"
)
CONFIG_TXT = (
    "# For more options see http://rptl.io/configtxt\ndtparam=audio=on\n\n[cm4]\notg_mode=1\n"
)
EDGE_CONFIG = 'mqtt: {host: broker.local}\ncamera: {source: "picamera2"}\n'
WIFI_SECRET = "correct-horse-battery-staple"
# An ed25519 public key (RFC 8032 test vector 1's public key, OpenSSH encoding).
SSH_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea test@ci\n"
)
MTOOLS_ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1", "MTOOLSRC": os.devnull}


def _tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    assert path, f"{name} not found: apt-get install fdisk dosfstools e2fsprogs mtools"
    return path


def _sh(*cmd: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [_tool(cmd[0]), *cmd[1:]],
        input=stdin,
        capture_output=True,
        text=True,
        env=MTOOLS_ENV,
        check=False,
    )
    assert result.returncode == 0, f"{cmd}: {result.stderr}"
    return result.stdout


def _mtype(image: Path, name: str) -> str:
    """A file of the image's FAT partition, read back with mtype."""
    return _sh("mtype", "-i", f"{image}@@{FAT_OFFSET}", f"::/{name}")


def _mdir(image: Path, directory: str = "") -> set[str]:
    """Bare file names in a directory of the image's FAT partition (mdir -b)."""
    out = _sh("mdir", "-b", "-i", f"{image}@@{FAT_OFFSET}", f"::/{directory}")
    return {line.rstrip("/").rsplit("/", 1)[-1] for line in out.splitlines() if line.strip()}


def _digest(path: Path, start: int = 0, size: int | None = None) -> str:
    with path.open("rb") as fh:
        fh.seek(start)
        return hashlib.sha256(fh.read(size) if size is not None else fh.read()).hexdigest()


def _yaml(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(io.StringIO(text))


@pytest.fixture
def image(tmp_path: Path) -> Path:
    """A Raspberry Pi OS-like image: MBR, FAT32 bootfs with config/cmdline, ext4 rootfs."""
    img = tmp_path / "raspios.img"
    with img.open("wb") as fh:
        fh.truncate((ROOT_START + ROOT_SECTORS) * SECTOR)
    layout = (
        f"label: dos\nstart={FAT_START}, size={FAT_SECTORS}, type=c\n"
        f"start={ROOT_START}, size={ROOT_SECTORS}, type=83\n"
    )
    _sh("sfdisk", "--quiet", str(img), stdin=layout)
    _sh("mkfs.vfat", "--offset", str(FAT_START), "-F", "32", "-n", "BOOTFS", str(img),
        str(FAT_SECTORS // 2))  # fmt: skip
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "hostname").write_text("raspberrypi\n")
    _sh("mkfs.ext4", "-q", "-F", "-E", f"offset={ROOT_START * SECTOR}", "-d", str(rootfs),
        str(img), f"{ROOT_SECTORS // 2}k")  # fmt: skip
    for name, text in (("cmdline.txt", CMDLINE), ("config.txt", CONFIG_TXT)):
        (tmp_path / name).write_text(text)
        _sh("mcopy", "-i", f"{img}@@{FAT_OFFSET}", str(tmp_path / name), f"::/{name}")
    return img


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    """Valid input files: edge config, Wi-Fi passphrase, SSH public key, a wheel."""
    files = {
        "config": tmp_path / "edge.yaml",
        "password": tmp_path / "wifi.txt",
        "key": tmp_path / "id_ed25519.pub",
        "wheel": tmp_path / "edge_emotion-0.1.0-py3-none-any.whl",
    }
    files["config"].write_text(EDGE_CONFIG)
    files["password"].write_text(WIFI_SECRET + "\n")
    files["key"].write_text(SSH_KEY)
    shutil.make_archive(str(files["wheel"]), "zip", root_dir=tmp_path, base_dir="edge.yaml")
    Path(str(files["wheel"]) + ".zip").rename(files["wheel"])
    return files


def _args(where: list[str], files: dict[str, Path], *extra: str) -> list[str]:
    return [
        *where,
        "--hostname", "edge-kitchen-01",
        "--edge-config", str(files["config"]),
        "--wifi-ssid", "Home Net",
        "--wifi-password-file", str(files["password"]),
        "--wifi-country", "gb",
        "--ssh-key", str(files["key"]),
        "--timezone", "Europe/Berlin",
        "--wheel", str(files["wheel"]),
        *extra,
    ]  # fmt: skip


def _provision(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = provision_main.main(argv)
    out, err = capsys.readouterr()
    return code, out + err


EXPECTED_ROOT = {
    "cmdline.txt", "config.txt", "firstrun.sh", "meta-data", "network-config", "user-data", "edge",
}  # fmt: skip
EXPECTED_PAYLOAD = {
    "install.sh", "edge.service", "watchdog.conf", "edge.yaml", "firstrun.env",
    "edge_emotion-0.1.0-py3-none-any.whl", "constraints",
}  # fmt: skip


def test_image_provisioning_writes_every_file(
    image: Path, inputs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """--image writes the seed, payload, config.txt and cmdline.txt; ext4 stays untouched."""
    rootfs_before = _digest(image, ROOT_START * SECTOR, ROOT_SECTORS * SECTOR)
    code, output = _provision(_args(["--image", str(image)], inputs), capsys)
    assert code == 0, output
    assert _mdir(image) == EXPECTED_ROOT
    assert _mdir(image, "edge") == EXPECTED_PAYLOAD
    # install.sh pins per release from constraints/ beside it
    assert _mdir(image, "edge/constraints") == {"bookworm.txt", "trixie.txt"}
    assert "opencv-python-headless==4.11.0.86" in _mtype(image, "edge/constraints/bookworm.txt")
    user_data = _mtype(image, "user-data")
    assert user_data.startswith("#cloud-config\n")
    doc = _yaml(user_data)
    assert doc["hostname"] == "edge-kitchen-01"
    assert doc["users"][0]["name"] == "pi"
    assert doc["users"][0]["ssh_authorized_keys"] == [SSH_KEY.strip()]
    assert doc["timezone"] == "Europe/Berlin"
    (edge_yaml,) = [f for f in doc["write_files"] if f["path"] == "/etc/edge/edge.yaml"]
    assert edge_yaml["content"] == EDGE_CONFIG
    assert any("install.sh --wheel /boot/firmware/edge/edge_emotion" in c for c in doc["runcmd"])
    meta = _yaml(_mtype(image, "meta-data"))
    assert meta["local-hostname"] == "edge-kitchen-01"
    wifi = _yaml(_mtype(image, "network-config"))["network"]["wifis"]["wlan0"]
    assert wifi["regulatory-domain"] == "GB"
    assert wifi["access-points"]["Home Net"]["password"] == render.wpa_psk("Home Net", WIFI_SECRET)
    assert _mtype(image, "edge/edge.yaml") == EDGE_CONFIG
    assert _mtype(image, "edge/install.sh") == (REPO / "scripts/install.sh").read_text()
    assert _mtype(image, "edge/edge.service") == (REPO / "systemd/edge.service").read_text()
    assert _mtype(image, "firstrun.sh") == (REPO / "firmware_config/firstrun.sh").read_text()
    assert "EDGE_HOSTNAME=edge-kitchen-01" in _mtype(image, "edge/firstrun.env")
    assert _digest(image, ROOT_START * SECTOR, ROOT_SECTORS * SECTOR) == rootfs_before


def test_config_txt_and_cmdline_are_merged(
    image: Path, inputs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """config.txt keeps its lines plus our fragment; cmdline.txt stays one line + ds=nocloud."""
    code, output = _provision(_args(["--image", str(image)], inputs), capsys)
    assert code == 0, output
    config = _mtype(image, "config.txt")
    assert config.startswith(CONFIG_TXT)
    assert config.count(render.FRAGMENT_BEGIN) == 1
    assert "camera_auto_detect=1\ndtparam=watchdog=on\n" in config
    cmdline = _mtype(image, "cmdline.txt")
    assert cmdline.count("\n") == 1 and cmdline.endswith("\n")
    tokens = cmdline.split()
    assert tokens[: len(CMDLINE.split())] == CMDLINE.split()
    assert [t for t in tokens if t.startswith("ds=nocloud")] == [
        f"ds=nocloud;i={_yaml(_mtype(image, 'meta-data'))['instance-id']}"
    ]
    assert "cfg80211.ieee80211_regdom=GB" in tokens
    assert "systemd.run=/boot/firmware/firstrun.sh" in tokens


def test_second_run_is_idempotent(
    image: Path, inputs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Re-running with the same inputs succeeds and leaves the image byte-for-byte unchanged."""
    argv = _args(["--image", str(image)], inputs)
    assert _provision(argv, capsys)[0] == 0
    before = _digest(image)
    code, output = _provision(argv, capsys)
    assert code == 0, output
    assert "wrote" not in output
    assert _digest(image) == before
    assert _mtype(image, "config.txt").count(render.FRAGMENT_BEGIN) == 1
    assert _mtype(image, "cmdline.txt").count("ds=nocloud") == 1


def test_existing_user_data_needs_force(
    image: Path, inputs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A different user-data is refused (exit 2, nothing written) unless --force is given."""
    assert _provision(_args(["--image", str(image)], inputs), capsys)[0] == 0
    before = _digest(image)
    changed = [*_args(["--image", str(image)], inputs), "--camera", "imx708"]
    changed[changed.index("edge-kitchen-01")] = "edge-hall-02"
    code, output = _provision(changed, capsys)
    assert code == 2
    assert "--force" in output and "user-data" in output
    assert _digest(image) == before
    code, output = _provision([*changed, "--force"], capsys)
    assert code == 0, output
    assert _yaml(_mtype(image, "user-data"))["hostname"] == "edge-hall-02"
    config = _mtype(image, "config.txt")
    assert config.count(render.FRAGMENT_BEGIN) == 1
    assert "camera_auto_detect=0\ndtoverlay=imx708\n" in config
    assert "camera_auto_detect=1" not in config
    cmdline = _mtype(image, "cmdline.txt")
    assert cmdline.count("ds=nocloud") == 1 and cmdline.count("\n") == 1


def test_secrets_are_never_printed_or_stored_in_clear(
    image: Path, inputs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The Wi-Fi passphrase appears neither in the output nor on the card (only its PSK)."""
    code, output = _provision(_args(["--image", str(image)], inputs), capsys)
    assert code == 0
    assert WIFI_SECRET not in output
    assert WIFI_SECRET.encode() not in image.read_bytes()
    short = tmp = inputs["password"]
    tmp.write_text("short7!\n")
    code, output = _provision(_args(["--image", str(image)], {**inputs, "password": short}), capsys)
    assert code == 2
    assert "short7!" not in output and "--wifi-password-file" in output


def test_boot_dir_provisioning_matches_the_image(
    tmp_path: Path, image: Path, inputs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """--boot-dir writes the same files with the same content as --image does."""
    boot = tmp_path / "bootfs"
    boot.mkdir()
    (boot / "cmdline.txt").write_text(CMDLINE)
    (boot / "config.txt").write_text(CONFIG_TXT)
    assert _provision(_args(["--boot-dir", str(boot)], inputs), capsys)[0] == 0
    assert _provision(_args(["--image", str(image)], inputs), capsys)[0] == 0
    assert {p.name for p in boot.iterdir()} == EXPECTED_ROOT
    assert {p.name for p in (boot / "edge").iterdir()} == EXPECTED_PAYLOAD
    for name in ("user-data", "meta-data", "network-config", "config.txt", "cmdline.txt"):
        assert (boot / name).read_text() == _mtype(image, name), name


def test_module_entry_point_runs(image: Path, inputs: dict[str, Path], tmp_path: Path) -> None:
    """`python -m edge.provision` provisions an image and reports the files it wrote."""
    result = subprocess.run(
        [sys.executable, "-m", "edge.provision", *_args(["--image", str(image)], inputs)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr
    assert "wrote     user-data" in result.stdout


def _replace(argv: list[str], flag: str, value: str) -> list[str]:
    out = list(argv)
    out[out.index(flag) + 1] = value
    return out


def _write(path: Path, data: str | bytes) -> str:
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)
    return str(path)


PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
RSA_LABEL_ED25519_BLOB = SSH_KEY.replace("ssh-ed25519 ", "ssh-rsa ", 1)

# (case id, flag or file named in the message, argv transformation)
BAD_INPUTS = [
    ("hostname-dash", "--hostname", lambda a, t: _replace(a, "--hostname", "edge-")),
    ("hostname-dot", "--hostname", lambda a, t: _replace(a, "--hostname", "edge.local")),
    ("hostname-long", "--hostname", lambda a, t: _replace(a, "--hostname", "e" * 64)),
    ("hostname-underscore", "--hostname", lambda a, t: _replace(a, "--hostname", "edge_01")),
    ("country-unknown", "--wifi-country", lambda a, t: _replace(a, "--wifi-country", "XX")),
    ("country-alpha3", "--wifi-country", lambda a, t: _replace(a, "--wifi-country", "GBR")),
    (
        "wifi-incomplete",
        "--wifi-country",
        lambda a, t: [*a[: a.index("--wifi-country")], *a[a.index("--wifi-country") + 2 :]],
    ),
    (
        "ssh-private",
        "--ssh-key",
        lambda a, t: _replace(a, "--ssh-key", _write(t / "id", PRIVATE_KEY)),
    ),
    (
        "ssh-garbage",
        "--ssh-key",
        lambda a, t: _replace(a, "--ssh-key", _write(t / "k.pub", "hello world\n")),
    ),
    (
        "ssh-type-mismatch",
        "--ssh-key",
        lambda a, t: _replace(a, "--ssh-key", _write(t / "k.pub", RSA_LABEL_ED25519_BLOB)),
    ),
    ("ssh-missing", "--ssh-key", lambda a, t: _replace(a, "--ssh-key", str(t / "nope.pub"))),
    (
        "config-missing",
        "--edge-config",
        lambda a, t: _replace(a, "--edge-config", str(t / "missing.yaml")),
    ),
    ("config-directory", "--edge-config", lambda a, t: _replace(a, "--edge-config", str(t))),
    (
        "config-not-utf8",
        "--edge-config",
        lambda a, t: _replace(a, "--edge-config", _write(t / "bin.yaml", b"\xff\xfe\x00mqtt")),
    ),
    (
        "config-invalid",
        "--edge-config",
        lambda a, t: _replace(
            a, "--edge-config", _write(t / "bad.yaml", EDGE_CONFIG + "no_such_key: 1\n")
        ),
    ),
    ("timezone", "--timezone", lambda a, t: _replace(a, "--timezone", "Mars/Olympus_Mons")),
    ("camera", "--camera", lambda a, t: [*a, "--camera", "webcam9000"]),
    ("user-root", "--user", lambda a, t: [*a, "--user", "root"]),
    (
        "wheel-not-zip",
        "--wheel",
        lambda a, t: _replace(a, "--wheel", _write(t / "edge_emotion-1-py3-none-any.whl", "x")),
    ),
    (
        "wheel-other-project",
        "--wheel",
        lambda a, t: _replace(a, "--wheel", _write(t / "numpy-2.0-py3-none-any.whl", "x")),
    ),
]


@pytest.mark.parametrize("case", [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
def test_invalid_input_exits_2_and_writes_nothing(
    image: Path,
    inputs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: tuple[str, Any],
) -> None:
    """Each bad input exits 2 with a message naming the flag, and the image stays unchanged."""
    flag, transform = case
    before = _digest(image)
    code, output = _provision(transform(_args(["--image", str(image)], inputs), tmp_path), capsys)
    assert code == 2, output
    assert "edge provision: error:" in output and flag in output, output
    assert WIFI_SECRET not in output
    assert _digest(image) == before


def _image_without_fat(tmp_path: Path) -> Path:
    img = tmp_path / "linux-only.img"
    with img.open("wb") as fh:
        fh.truncate(ROOT_START * SECTOR + ROOT_SECTORS * SECTOR)
    _sh("sfdisk", "--quiet", str(img), stdin=f"label: dos\nstart={ROOT_START}, type=83\n")
    return img


def _image_fat_type_without_fat(tmp_path: Path) -> Path:
    img = tmp_path / "fat-type-zeros.img"
    with img.open("wb") as fh:
        fh.truncate(ROOT_START * SECTOR)
    _sh("sfdisk", "--quiet", str(img), stdin=f"label: dos\nstart={FAT_START}, type=c\n")
    return img


BAD_IMAGES = [
    ("no-fat-partition", _image_without_fat, "no FAT boot partition"),
    ("fat-type-but-empty", _image_fat_type_without_fat, "no FAT boot partition"),
    ("no-partition-table", lambda t: Path(_write(t / "zeros.img", bytes(4096))),
     "no partition table"),
    ("xz-compressed", lambda t: Path(_write(t / "os.img.xz", b"\xfd7zXZ\x00" + bytes(600))),
     "decompress"),
    ("missing", lambda t: t / "missing.img", "no such file"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("make", "message"), [case[1:] for case in BAD_IMAGES], ids=[c[0] for c in BAD_IMAGES]
)
def test_bad_image_exits_2_with_a_clear_message(
    tmp_path: Path,
    inputs: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    make: Any,
    message: str,
) -> None:
    """Images without a usable FAT boot partition are rejected with exit 2 and a hint."""
    img = make(tmp_path)
    code, output = _provision(_args(["--image", str(img)], inputs), capsys)
    assert code == 2, output
    assert "--image" in output and message in output, output


def test_fat_partition_without_boot_files_is_rejected(
    image: Path, tmp_path: Path, inputs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A FAT partition lacking cmdline.txt is not a Raspberry Pi OS boot partition: exit 2."""
    _sh("mdel", "-i", f"{image}@@{FAT_OFFSET}", "::/cmdline.txt")
    code, output = _provision(_args(["--image", str(image)], inputs), capsys)
    assert code == 2
    assert "cmdline.txt" in output and "boot partition" in output


def test_boot_dir_errors(
    tmp_path: Path, inputs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """--boot-dir: a missing directory or a two-line cmdline.txt exit 2, naming the problem."""
    code, output = _provision(_args(["--boot-dir", str(tmp_path / "nope")], inputs), capsys)
    assert code == 2 and "--boot-dir" in output
    boot = tmp_path / "boot"
    boot.mkdir()
    (boot / "config.txt").write_text(CONFIG_TXT)
    (boot / "cmdline.txt").write_text("console=tty1 rootwait\nquiet\n")
    code, output = _provision(_args(["--boot-dir", str(boot)], inputs), capsys)
    assert code == 2 and "cmdline.txt" in output and "one line" in output
    assert not (boot / "user-data").exists()


def test_run_reports_usage_errors_through_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    """--boot-dir and --image are mutually exclusive and one is required (argparse exit 2)."""
    with pytest.raises(SystemExit) as exc:
        provision_main.main(["--hostname", "x", "--edge-config", "c.yaml"])
    assert exc.value.code == 2
    assert "--boot-dir" in capsys.readouterr().err


def _edge_cli() -> list[str]:
    """`edge` as installed next to this interpreter, else `python -m edge`."""
    script = Path(sys.executable).with_name("edge")
    return [str(script)] if script.exists() else [sys.executable, "-m", "edge"]


def _config_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_edge_cli(), "config", "check", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )


def test_rendered_edge_config_passes_edge_config_check(
    image: Path, inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The /etc/edge/edge.yaml that cloud-init will write is accepted by `edge config check`."""
    assert _provision(_args(["--image", str(image)], inputs), capsys)[0] == 0
    doc = _yaml(_mtype(image, "user-data"))
    (entry,) = [f for f in doc["write_files"] if f["path"] == "/etc/edge/edge.yaml"]
    rendered = tmp_path / "rendered-edge.yaml"
    rendered.write_text(entry["content"])
    result = _config_check(rendered)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text(entry["content"].replace("broker.local", "bad host!"))
    assert _config_check(broken).returncode == 2


def test_cloud_init_examples_match_the_renderer() -> None:
    """firmware_config/cloud-init/* are exactly what the renderer writes for the example inputs.

    Regenerate with: python -m edge.provision.examples firmware_config/cloud-init
    """
    for name, text in render_examples().items():
        path = REPO / "firmware_config" / "cloud-init" / name
        assert path.read_text() == text, f"{path} is stale; regenerate it (see docstring)"
        parsed = _yaml(text)
        assert isinstance(parsed, dict)
    assert render_examples()["user-data"].startswith("#cloud-config\n")


def test_config_fragment_file_is_the_default_render() -> None:
    """firmware_config/config.txt enables camera auto-detect and the hardware watchdog."""
    text = (REPO / "firmware_config" / "config.txt").read_text()
    lines = text.splitlines()
    assert lines[0] == render.FRAGMENT_BEGIN and lines[-1] == render.FRAGMENT_END
    assert {"[all]", "camera_auto_detect=1", "dtparam=watchdog=on"} <= set(lines)
    custom = render.config_fragment(text, "imx477")
    assert "camera_auto_detect=0\ndtoverlay=imx477\n" in custom


def test_wpa_psk_matches_the_ieee_test_vector() -> None:
    """The PSK derivation matches IEEE 802.11i test vector (passphrase 'password', SSID 'IEEE')."""
    assert render.wpa_psk("IEEE", "password") == (
        "f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e"
    )


STUB = r"""#!/bin/sh
echo "$(basename "$0") $*" >>"$STUB_LOG"
if [ "$(basename "$0")" = getent ]; then
    [ "$1" = passwd ] || exit 0
    # A user exists once the useradd stub was called for it.
    grep -q "^useradd .* $2\$" "$STUB_LOG" || exit 2
    echo "$2:x:1001:1001::/home/$2:/bin/bash"
fi
exit 0
"""


def _fake_root(tmp_path: Path, inputs: render.Inputs) -> tuple[Path, dict[str, str]]:
    """A root with a provisioned /boot/firmware, and PATH stubs that log system commands."""
    root = tmp_path / "root"
    boot = root / "boot" / "firmware"
    (boot / "edge").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "etc" / "hostname").write_text("raspberrypi\n")
    (root / "etc" / "hosts").write_text("127.0.0.1\tlocalhost\n127.0.1.1\traspberrypi\n")
    cmdline = render.merge_cmdline(CMDLINE, "iid-1", "GB")
    (boot / "cmdline.txt").write_text(cmdline)
    shutil.copy(REPO / "firmware_config" / "firstrun.sh", boot / "firstrun.sh")
    (boot / "edge" / "firstrun.env").write_text(render.firstrun_env(inputs))
    (boot / "edge" / "edge.yaml").write_text(inputs.edge_config)
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name in ("getent", "useradd", "usermod", "systemctl", "chown", "raspi-config"):
        (stubs / name).write_text(STUB)
        (stubs / name).chmod(0o755)
    env = {
        **os.environ,
        "EDGE_FIRSTRUN_ROOT": str(root),
        "PATH": f"{stubs}:{os.environ['PATH']}",
        "STUB_LOG": str(tmp_path / "calls.log"),
    }
    return root, env


FIRSTRUN_INPUTS = render.Inputs(
    hostname="edge-kitchen-01",
    edge_config=EDGE_CONFIG,
    ssh_keys=(SSH_KEY.strip(),),
    wifi=render.Wifi("Home Net", render.wpa_psk("Home Net", WIFI_SECRET), "GB"),
    timezone="Europe/Berlin",
    wheel_name="edge_emotion-0.1.0-py3-none-any.whl",
)


def _run_firstrun(root: Path, env: dict[str, str]) -> None:
    result = subprocess.run(
        ["bash", str(root / "boot/firmware/firstrun.sh")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_firstrun_applies_the_bookworm_path(tmp_path: Path) -> None:
    """Without cloud-init, firstrun.sh applies hostname, user+key, Wi-Fi, time zone, edge.yaml,
    enables the first-boot installer, unhooks itself and deletes the secrets file."""
    root, env = _fake_root(tmp_path, FIRSTRUN_INPUTS)
    _run_firstrun(root, env)
    boot = root / "boot/firmware"
    cmdline = (boot / "cmdline.txt").read_text()
    assert "systemd.run" not in cmdline and "kernel-command-line.target" not in cmdline
    assert cmdline.split()[: len(CMDLINE.split())] == CMDLINE.split()
    assert "ds=nocloud;i=iid-1" in cmdline and cmdline.count("\n") == 1
    assert not (boot / "edge/firstrun.env").exists() and not (boot / "firstrun.sh").exists()
    assert (root / "etc/hostname").read_text() == "edge-kitchen-01\n"
    assert "127.0.1.1\tedge-kitchen-01" in (root / "etc/hosts").read_text()
    assert (root / "home/pi/.ssh/authorized_keys").read_text() == SSH_KEY
    wifi = root / "etc/NetworkManager/system-connections/edge-wifi.nmconnection"
    assert f"psk={FIRSTRUN_INPUTS.wifi.psk}" in wifi.read_text()  # type: ignore[union-attr]
    assert "ssid=Home Net" in wifi.read_text() and WIFI_SECRET not in wifi.read_text()
    assert wifi.stat().st_mode & 0o077 == 0
    assert os.readlink(root / "etc/localtime") == "/usr/share/zoneinfo/Europe/Berlin"
    assert (root / "etc/edge/edge.yaml").read_text() == EDGE_CONFIG
    unit = (root / "etc/systemd/system/edge-firstboot.service").read_text()
    assert (
        "ExecStart=/bin/bash /boot/firmware/edge/install.sh --wheel "
        "/boot/firmware/edge/edge_emotion-0.1.0-py3-none-any.whl\n" in unit
    )
    assert (root / "etc/systemd/system/multi-user.target.wants/edge-firstboot.service").is_symlink()
    calls = (tmp_path / "calls.log").read_text()
    assert "useradd --create-home --shell /bin/bash pi" in calls
    assert "systemctl enable ssh" in calls


def test_firstrun_firstboot_unit_verifies_cleanly(tmp_path: Path) -> None:
    """The edge-firstboot.service that firstrun.sh writes passes systemd-analyze verify silently."""
    root, env = _fake_root(tmp_path, FIRSTRUN_INPUTS)
    _run_firstrun(root, env)
    unit = root / "etc/systemd/system/edge-firstboot.service"
    result = subprocess.run(
        [_tool("systemd-analyze"), "--no-pager", "verify", str(unit)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "SYSTEMD_COLORS": "0"},
    )
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stderr


def test_firstrun_defers_to_cloud_init(tmp_path: Path) -> None:
    """With cloud-init installed, firstrun.sh only unhooks itself and removes the secrets file."""
    root, env = _fake_root(tmp_path, FIRSTRUN_INPUTS)
    cloud_init = root / "usr/bin/cloud-init"
    cloud_init.parent.mkdir(parents=True)
    cloud_init.write_text("#!/bin/sh\n")
    cloud_init.chmod(0o755)
    _run_firstrun(root, env)
    boot = root / "boot/firmware"
    assert "systemd.run" not in (boot / "cmdline.txt").read_text()
    assert "ds=nocloud" in (boot / "cmdline.txt").read_text()
    assert not (boot / "edge/firstrun.env").exists()
    assert (root / "etc/hostname").read_text() == "raspberrypi\n"
    assert not (root / "etc/edge").exists()
