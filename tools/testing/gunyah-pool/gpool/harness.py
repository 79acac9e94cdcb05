# SPDX-License-Identifier: GPL-2.0-only
"""Build, boot and judge: the pieces every test and the demo share.

A boot is: a kernel Image for one configuration lane, QEMU's own board
device tree with one of our overlays applied, an initramfs holding busybox,
a non-interactive /init and the test's guest script, and a QEMU command line
that is printed and kept. The console log is kept under
tools/testing/gunyah-pool/out/<run>/<boot>/ with everything the boot used.
The verdict fails a boot that did not finish, timed out, panicked, or shows
a kernel splat the test did not declare as expected.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent          # tools/testing/gunyah-pool
TOP = HERE.parents[2]                                   # the repository
BUILD = TOP / 'build'
TREE = BUILD / 'linux'
DTS_DIR = TOP / 'arch' / 'arm64' / 'boot' / 'dts' / 'gunyah-pool'
GUEST = HERE / 'guest'
DEFAULT_OVERLAY = 'qemu-virt-gunyah-pool.dtso'

MACHINE = 'virt'
# pKVM: the kernel enters at EL2; the GICv3 is what protected mode expects.
MACHINE_EL2 = 'virt,virtualization=on,gic-version=3'

# Test lanes: a kernel configuration (configs/<build>.config on top of
# base.config), extra kernel arguments, a timeout factor and QEMU's machine.
LANES = {
    'default': ('default', '', 1, MACHINE),
    'kasan': ('kasan', '', 5, MACHINE),
    'kasan-pagealloc': ('kasan', 'debug_pagealloc=on page_poison=1', 6,
                        MACHINE),
    'kcsan': ('kcsan', '', 4, MACHINE),
    'pkvm': ('pkvm', 'kvm-arm.mode=protected', 3, MACHINE_EL2),
    # 16 KiB pages: the pkvm lane's kernel, without and with EL2.
    '16k': ('16k', '', 3, MACHINE),
    '16k-pkvm': ('16k', 'kvm-arm.mode=protected', 3, MACHINE_EL2),
    # 64 KiB pages: the default lane's kernel.
    '64k': ('64k', '', 1, MACHINE),
    # The demo's own kernel (configs/demo.config): the pkvm lane's without
    # what only the tests use. Booted by the demo and its test.
    'demo': ('demo', 'kvm-arm.mode=protected', 3, MACHINE_EL2),
    # For the benchmark; not among the test script's lanes.
    'preempt': ('preempt', '', 1, MACHINE),
    'bench-pkvm': ('bench-pkvm', 'kvm-arm.mode=protected', 2, MACHINE_EL2),
}

# What a pKVM kernel prints once EL2 is in charge (hVHE on a CPU with VHE,
# as QEMU's "max" has; nVHE without).
PKVM_BANNER = re.compile(r'kvm \[\d+\]: Protected (hVHE|nVHE) mode '
                         r'initialized successfully')
CPU = 'max,pauth-impdef=on'     # -cpu max; cheaper pointer auth under TCG
MEMORY_MB = 1024
SMP = 2

# Console lines that fail a boot unless the test expects them (NOTES.md).
SPLATS = [
    r'BUG:', r'WARNING:', r'UBSAN:', r'Unable to handle kernel',
    r'Internal error:', r'Kernel panic', r'kernel BUG at', r'Oops',
    r'possible recursive locking', r'possible circular locking',
    r'inconsistent lock state', r'suspicious RCU usage',
    r'sleeping function called from invalid context', r'ODEBUG:',
    r'unreferenced object', r'list_add corruption', r'list_del corruption',
    r'Bad page state', r'rcu: INFO:', r'soft lockup',
    # The hung-task detector's report (the command line may name its sysctl).
    r'INFO: task .* blocked for more than \d+ seconds',
    # The pool's own error-level reports: its books disagree with the
    # memory, a chunk could not be mapped again, a valid node could not be
    # set up; and pKVM's: EL2 kept a VM's blocks. (A kernel without a
    # pool, or with a no-map one, which pKVM leaves to other users with a
    # warning, is stock pKVM.)
    r'gunyah_pool: [^ ]+: validate: ', r'cannot be mapped again; keeping it out',
    r'gunyah_pool: [^ ]+: cannot set up the pool',
    r'pkvm donation pool: EL2 kept \d+ blocks',
]
SPLAT_RE = re.compile('|'.join(SPLATS))
# The debugging tools, by the first line of their reports: a boot's verdict
# names the tool, and test_detectors.py finds each tool's report by name.
DETECTORS = {
    'KASAN': r'BUG: KASAN: ',
    'KCSAN': r'BUG: KCSAN: ',
    'UBSAN': r'UBSAN: ',
    'lockdep': r'possible (circular|recursive) locking|inconsistent lock state',
    'kmemleak': r'unreferenced object',
    'Oops': r'Internal error: Oops|Unable to handle kernel',
    'atomic-sleep': r'sleeping function called from invalid context',
    'soft-lockup': r'BUG: soft lockup',
    'hung-task': r'blocked for more than \d+ seconds',
    'panic': r'Kernel panic',
    'WARNING': r'WARNING:',
    'pool': r'gunyah_pool: ',
    'pkvm': r'pkvm donation pool: ',
}


def detector(line):
    """The tool a splat line comes from, or 'splat'."""
    for name, pattern in DETECTORS.items():
        if re.search(pattern, line):
            return name
    return 'splat'


MARK_RE = re.compile(r'@@GPOOL (.*?)\r?$')


# Figures tests report (operation counts, injected faults), printed at the
# end of the pytest run by conftest.py so they are in every CI log.
NOTES = []


def note(line):
    NOTES.append(line)
    print(line)


# Boots say when they start and, every HEARTBEAT seconds, that they are
# still going, so a long boot is never silence. conftest.py points this at
# pytest's terminal, past its output capture.
HEARTBEAT = 30


def progress(line):
    print(f'gunyah-pool: {line}', flush=True)


class HarnessError(Exception):
    """A step of building or booting failed; the message says which."""


def run_id():
    """One directory per pytest session or command, shared by its boots."""
    rid = os.environ.get('GPOOL_RUN')
    if not rid:
        rid = time.strftime('%Y%m%d-%H%M%S')
        os.environ['GPOOL_RUN'] = rid
    return rid


def out_dir(*parts):
    d = HERE / 'out' / run_id()
    for p in parts:
        d = d / p
    d.mkdir(parents=True, exist_ok=True)
    return d


def _run(cmd, log=None, **kw):
    """Run a host command; on failure raise with its output's tail."""
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, **kw)
    if log:
        Path(log).write_text(res.stdout)
    if res.returncode:
        tail = '\n'.join(res.stdout.splitlines()[-25:])
        raise HarnessError(f'{shlex.join(map(str, cmd))} failed '
                           f'({res.returncode}):\n{tail}')
    return res.stdout


_built = {}


def kernel(lane='default'):
    """Build (or bring up to date) a lane's Image, once per process."""
    if lane not in _built:
        prebuilt = os.environ.get('GPOOL_PREBUILT', '').split(',')
        if lane not in prebuilt:
            _run([TOP / 'scripts' / 'gunyah-pool' / 'build-kernel.sh', lane],
                 log=out_dir() / f'build-{lane}.log')
        _built[lane] = TREE / f'obj-{lane}'
    image = _built[lane] / 'arch' / 'arm64' / 'boot' / 'Image'
    if not image.exists():
        raise HarnessError(f'no kernel image at {image}')
    return _built[lane]


def qemu_base(smp=SMP, mem=MEMORY_MB, machine=MACHINE):
    # -nic none: virt's default NIC needs an iPXE ROM, which Debian ships in
    # ipxe-qemu, only recommended by qemu-system-arm; no test needs a network.
    return ['qemu-system-aarch64', '-machine', machine, '-cpu', CPU,
            '-m', str(mem), '-smp', str(smp), '-nic', 'none']


def board_dtb(smp=SMP, mem=MEMORY_MB, machine=MACHINE):
    """QEMU's own device tree for the same machine, memory and CPUs: the
    machine's options change it (virtualization=on makes PSCI use smc,
    gic-version=3 another interrupt controller)."""
    tag = machine.replace(',', '-').replace('=', '')
    dtb = BUILD / 'dtb' / f'board-{tag}-{mem}m-{smp}cpu.dtb'
    if not dtb.exists():
        dtb.parent.mkdir(parents=True, exist_ok=True)
        cmd = qemu_base(smp, mem, f'{machine},dumpdtb={dtb}')
        _run(cmd + ['-display', 'none'])
    return dtb


# Overlays that add /reserved-memory children cannot know the root's cell
# sizes; these dtc checks always fire on them.
DTC_QUIET = ['-W', 'no-ranges_format', '-W', 'no-avoid_default_addr_size',
             '-W', 'no-avoid_unnecessary_addr_size',
             '-W', 'no-unique_unit_address']


def make_dtb(overlay, dest, smp=SMP, mem=MEMORY_MB, machine=MACHINE):
    """Board DT plus one overlay (a file name in DTS_DIR, a path, or None)."""
    base = board_dtb(smp, mem, machine)
    dest = Path(dest)
    if overlay is None:
        # Compacted: QEMU's dump is padded to 1 MiB, and a kernel given it
        # with -dtb prints nothing at all.
        _run(['dtc', '-q', '-I', 'dtb', '-O', 'dtb', '-o', dest, base])
        return dest
    src = Path(overlay)
    if not src.is_absolute():
        src = DTS_DIR / overlay
    dtbo = dest.with_suffix('.dtbo')
    try:
        _run(['dtc', '-@', '-q', *DTC_QUIET, '-I', 'dts', '-O', 'dtb',
              '-o', dtbo, src])
        _run(['fdtoverlay', '-i', base, '-o', dest, dtbo])
    except HarnessError as e:
        raise HarnessError(f'bad overlay {src.name}: {e}') from None
    return dest


def guest_helper(name='gpool-helper'):
    """A static arm64 helper from guest/NAME.c, rebuilt when its source
    changes."""
    src = GUEST / f'{name}.c'
    exe = BUILD / 'guest' / name
    if not exe.exists() or exe.stat().st_mtime < src.stat().st_mtime:
        exe.parent.mkdir(parents=True, exist_ok=True)
        _run(['aarch64-linux-gnu-gcc', '-static', '-O2', '-Wall', '-Wextra',
              '-o', exe, src])
    return exe


MODULES = HERE / 'modules'


def build_module(name, lane='pkvm', make_args=(), tag='', source=None):
    """Build modules/NAME (or the directory SOURCE) against a lane's kernel,
    out of tree as a vendor would, in a copy under build/modules/. Returns
    (returncode, make's output, the .ko files built)."""
    objdir = kernel(LANES[lane][0])
    src = BUILD / 'modules' / lane / (name + tag)
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(source or MODULES / name, src)
    res = subprocess.run(['make', '-C', str(TREE), f'O={objdir}', 'ARCH=arm64',
                          'CROSS_COMPILE=aarch64-linux-gnu-', f'M={src}',
                          *make_args, 'modules'], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    (out_dir() / f'module-{name}{tag}.log').write_text(res.stdout)
    return res.returncode, res.stdout, sorted(src.glob('*.ko'))


# A guest script stops at its first failing command (set -e; a command in
# a condition does not count), and the trap says where: the host quotes the
# line (guest/lib.sh, "failed" marks).
TEST_SH_HEAD = ". /lib.sh\nset -e\ntrap 'on_exit $? $LINENO' EXIT\n"


def make_initramfs(objdir, script, dest, files=()):
    """busybox, /init, /lib.sh, the helpers, /test.sh and FILES (paths,
    put in /lib/modules/ under their names), as a newc cpio."""
    dest = Path(dest)
    busybox = BUILD / 'busybox' / 'bin' / 'busybox'
    if not busybox.exists():
        raise HarnessError(f'{busybox} missing: run scripts/gunyah-pool/deps.sh')
    test_sh = dest.parent / 'test.sh'
    test_sh.write_text(TEST_SH_HEAD + script + '\n')
    entries = [
        'dir /dev 0755 0 0', 'nod /dev/console 0600 0 0 c 5 1',
        'dir /bin 0755 0 0', 'dir /proc 0755 0 0', 'dir /sys 0755 0 0',
        'dir /tmp 1777 0 0', 'dir /root 0700 0 0',
        f'file /bin/busybox {busybox} 0755 0 0',
        'slink /bin/sh busybox 0777 0 0',
        f'file /bin/gpool-helper {guest_helper()} 0755 0 0',
        f'file /bin/pkvm-vms {guest_helper("pkvm-vms")} 0755 0 0',
        f'file /bin/poolstat {GUEST / "poolstat"} 0755 0 0',
        f'file /init {GUEST / "init"} 0755 0 0',
        f'file /lib.sh {GUEST / "lib.sh"} 0644 0 0',
        f'file /test.sh {test_sh} 0755 0 0',
    ]
    if files:
        entries += ['dir /lib 0755 0 0', 'dir /lib/modules 0755 0 0']
        entries += [f'file /lib/modules/{Path(f).name} {f} 0644 0 0'
                    for f in files]
    listing = dest.with_suffix('.list')
    listing.write_text('\n'.join(entries) + '\n')
    gen = Path(objdir) / 'usr' / 'gen_init_cpio'
    with open(dest, 'wb') as f:
        res = subprocess.run([gen, listing], stdout=f, stderr=subprocess.PIPE)
    if res.returncode:
        raise HarnessError(f'gen_init_cpio failed: {res.stderr.decode()}')
    return dest


@dataclass
class Boot:
    """One finished boot: its log, what the guest reported, the verdict."""
    name: str
    dir: Path
    cmdline: list = field(repr=False)
    log: str = field(default='', repr=False)
    timed_out: bool = False
    seconds: float = 0.0
    marks: list = field(default_factory=list, repr=False)
    kv: dict = field(default_factory=dict, repr=False)
    dumps: dict = field(default_factory=dict, repr=False)
    problems: list = field(default_factory=list)
    splats: list = field(default_factory=list)
    # The booted kernel's PAGE_SIZE: the pool's orders, its chunk and the
    # minimum region scale with it.
    page: int = 4096

    @property
    def detectors(self):
        """The tools whose reports are among the unexpected splats."""
        return {detector(s) for s in self.splats}

    @property
    def failed_at(self):
        """Where the guest script stopped, from its "failed" mark, with the
        line quoted from test.sh; '' if it did not fail."""
        for m in self.marks:
            f = re.match(r'failed rc=(\d+) line=(\d+)', m)
            if f:
                lines = (self.dir / 'test.sh').read_text().splitlines()
                n = int(f[2])
                text = lines[n - 1].strip() if 0 < n <= len(lines) else '?'
                return f'at test.sh line {n}: {text}'
        return ''

    @property
    def rc(self):
        for m in self.marks:
            if m.startswith('done rc='):
                return int(m.split('=', 1)[1])
        return None

    def lines(self, pattern):
        """Console lines matching a regex."""
        r = re.compile(pattern)
        return [line for line in self.log.splitlines() if r.search(line)]

    def check(self):
        if self.problems:
            raise HarnessError(f'boot {self.name} failed: ' +
                               '; '.join(self.problems) +
                               f'\n(console log: {self.dir / "console.log"})')
        return self


def _parse(b, expect_splats):
    allowed = [re.compile(p) for p in expect_splats]
    for line in b.log.splitlines():
        m = MARK_RE.search(line)
        if m:
            mark = m.group(1)
            b.marks.append(mark)
            if mark.startswith('kv ') and '=' in mark:
                k, v = mark[3:].split('=', 1)
                b.kv[k] = v
            elif mark.startswith('dump ') and '|' in mark:
                k, v = mark[5:].split('|', 1)
                b.dumps.setdefault(k, []).append(v)
            continue
        if SPLAT_RE.search(line) and not any(a.search(line) for a in allowed):
            b.splats.append(line.strip())

    if b.timed_out:
        b.problems.append(f'QEMU hung: no power-off within {b.seconds:.0f} s')
    if any('Kernel panic' in s for s in b.splats):
        panic = next(s for s in b.splats if 'Kernel panic' in s)
        b.problems.append(f'kernel panic: {panic}')
    elif b.splats:
        tools = ', '.join(sorted(b.detectors))
        b.problems.append(f'{len(b.splats)} unexpected kernel splat(s) '
                          f'({tools}), first: {b.splats[0]}')
    if not b.timed_out and b.rc is None:
        b.problems.append('the guest did not finish (no "done" mark)')
    elif b.rc not in (None, 0):
        b.problems.append(f'the guest script exited with {b.rc}' +
                          (f', {b.failed_at}' if b.failed_at else ''))


# Finished boots by name: pytest may set a module-scoped fixture up again
# when it reorders parametrized tests, and a boot is not worth repeating.
_boots = {}


def boot(name, script='', *, lane='default', **kw):
    """Boot once in a lane and return a Boot; raise HarnessError if check
    fails. The timeout is for the default lane and scales with the lane.
    A second call with the same name and lane returns the first result."""
    key = (name, lane)
    if key not in _boots:
        try:
            _boots[key] = _boot(name, script, lane=lane, **kw)
        except HarnessError as e:
            _boots[key] = e
    if isinstance(_boots[key], HarnessError):
        raise _boots[key]
    return _boots[key]


def _boot(name, script='', *, lane='default', overlay=DEFAULT_OVERLAY,
          append='', kunit=False, timeout=60, expect_splats=(), smp=SMP,
          mem=MEMORY_MB, check=True, echo=False, image=None, files=(),
          leakscan=False, disk=None, qemu=()):
    if lane not in LANES:
        raise HarnessError(f'no lane {lane!r}; lanes: {", ".join(LANES)}')
    build, lane_args, slow, machine = LANES[lane]
    objdir = kernel(build)
    timeout *= slow
    if lane != 'default':
        name = f'{name}-{lane}'
    d = out_dir(name)
    kmemleak = leakscan and has_option(objdir, 'CONFIG_DEBUG_KMEMLEAK')
    if leakscan:
        # What the script leaks is reported; what boot leaked is not ours.
        script = 'leakclear\n' + script + '\nleakscan'
    dtb = make_dtb(overlay, d / 'board.dtb', smp, mem, machine)
    initrd = make_initramfs(objdir, script, d / 'initramfs.cpio', files)
    kargs = ['console=ttyAMA0', 'panic=-1', 'printk.devkmsg=on',
             'loglevel=7']
    if kunit:
        kargs += ['kunit.enable=1', f'kunit.filter_glob={kunit}']
        # KUnit waits uninterruptibly for a case, up to its own 300 s
        # timeout: a slow case is KUnit's to report, not a hung task.
        if has_option(objdir, 'CONFIG_DETECT_HUNG_TASK'):
            kargs += ['sysctl.kernel.hung_task_timeout_secs=300']
    else:
        kargs += ['kunit.enable=0']
    cmd = qemu_base(smp, mem, machine) + [
        '-display', 'none', '-monitor', 'none', '-serial', 'stdio',
        '-no-reboot', '-kernel',
        str(image or objdir / 'arch/arm64/boot/Image'),
        '-initrd', str(initrd), '-dtb', str(dtb),
        '-append', ' '.join(kargs + [a for a in (lane_args, append) if a])]
    cmd += list(qemu)
    if disk:
        # A raw disk image as /dev/vda (virtio-blk over virtio-mmio).
        cmd += ['-drive', f'file={disk},if=none,format=raw,id=vda',
                '-device', 'virtio-blk-device,drive=vda']
    (d / 'qemu-cmdline.txt').write_text(shlex.join(cmd) + '\n')
    if echo:
        print('$ ' + shlex.join(cmd), flush=True)

    b = Boot(name, d, cmd, page=page_size(objdir))
    start = time.monotonic()
    progress(f'booting {name}')
    with open(d / 'console.log', 'wb') as logf:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                stderr=subprocess.STDOUT)
        while True:
            left = timeout - (time.monotonic() - start)
            try:
                proc.wait(timeout=max(0, min(HEARTBEAT, left)))
                break
            except subprocess.TimeoutExpired:
                if left <= HEARTBEAT:
                    proc.kill()
                    proc.wait()
                    b.timed_out = True
                    break
                progress(f'{name}: {time.monotonic() - start:.0f} s, '
                         f'{logf.tell() // 1024} KiB of console so far')
    b.seconds = time.monotonic() - start
    progress(f'{name}: done in {b.seconds:.0f} s')
    b.log = (d / 'console.log').read_bytes().decode('utf-8', 'replace')
    _parse(b, expect_splats)
    if kmemleak and b.rc == 0 and b.kv.get('kmemleak') != 'on':
        b.problems.append(f'kmemleak did not scan: {b.kv.get("kmemleak")}')
    if 'kvm-arm.mode=protected' in lane_args and not PKVM_BANNER.search(b.log):
        b.problems.append('pKVM did not initialise: no "Protected hVHE/nVHE '
                          'mode initialized successfully"')
    return b.check() if check else b


def has_option(objdir, option):
    """Whether a lane's .config has OPTION=y."""
    return f'{option}=y' in (Path(objdir) / '.config').read_text().split('\n')


def empty_overlay():
    """An overlay that adds nothing: a board with no pool. (QEMU's own
    dumped tree, padded to 1 MiB, does not boot as it is.)"""
    path = out_dir() / 'none.dtso'
    path.write_text('/dts-v1/;\n/plugin/;\n&{/} {\n};\n')
    return path


def page_size(objdir):
    """PAGE_SIZE of a lane's kernel."""
    for kib in (16, 64):
        if has_option(objdir, f'CONFIG_ARM64_{kib}K_PAGES'):
            return kib << 10
    return 4096


def lane_page_size(lane):
    """PAGE_SIZE of a lane's kernel, from its configuration."""
    return page_size(kernel(LANES[lane][0]))


TRACE_RE = re.compile(r'\s(gunyah_pool_\w+): (.*)$')


def trace_events(b, name):
    """The records trace_off dumped as NAME: [(event, {field: value})]."""
    out = []
    for line in b.dumps.get(name, []):
        m = TRACE_RE.search(line.rstrip())
        if m:
            out.append((m[1], dict(kv.split('=', 1) for kv in m[2].split()
                                   if '=' in kv)))
    return out


def trace_formats(b, name):
    """{event: [field names]} from the format files trace_off dumped."""
    out, event = {}, None
    for line in b.dumps.get(name + '.fmt', []):
        m = re.match(r'name: (\w+)', line)
        if m:
            event = m[1]
            out[event] = []
        m = re.search(r'field:[^;]*?(\w+)(\[\d*\])?;', line)
        if m and event and not m[1].startswith('common_'):
            out[event].append(m[1])
    return out


def kunit_results(b):
    """Parse the KTAP of the suites run at boot, before /init, with the
    tree's kunit_parser; the root Test. A suite the guest script runs again
    (through KUnit's debugfs) prints after the "boot" mark, and is left to
    its test."""
    sys.path.insert(0, str(TREE / 'tools' / 'testing' / 'kunit'))
    try:
        import kunit_parser
        import kunit_printer
    finally:
        sys.path.pop(0)
    # The parser prints as it goes; keep that in a file, not on stdout.
    with open(b.dir / 'kunit.txt', 'w') as f:
        kunit_printer.stdout._output = f
        try:
            return kunit_parser.parse_run_tests(
                b.log.split('@@GPOOL boot', 1)[0].splitlines())
        finally:
            kunit_printer.stdout._output = sys.stdout


def occupancy_counts(map_lines):
    """Pages free ('.'), used ('#') and not in the pool ('-') in the map."""
    rows = ''.join(line.split()[1] for line in map_lines
                   if len(line.split()) == 2)
    return {c: rows.count(c) for c in '.#-'}


def occupancy_figure(map_lines, dest, title):
    """The occupancy map as a figure a person can read without the README:
    a square per page (64 pages, 256 KiB, a row), the region's offset in MiB
    on the y axis, a legend with the page counts, a title."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    rows = [line.split()[1].ljust(64, '-') for line in map_lines
            if len(line.split()) == 2]
    grid = [['.#-'.index(c) if c in '.#-' else 2 for c in row] for row in rows]
    counts = occupancy_counts(map_lines)
    colours = ['#3caa5a', '#c83232', '#969696']
    mib = len(rows) * 64 * 4096 / (1 << 20)
    fig, ax = plt.subplots(figsize=(6, 2 + len(rows) / 40))
    ax.imshow(grid, cmap=ListedColormap(colours), vmin=0, vmax=2,
              interpolation='nearest', aspect='auto',
              extent=(0, 64 * 4, mib, 0))
    ax.set_xlabel('KiB within the row (a square is a 4 KiB page)')
    ax.set_ylabel('offset in the region (MiB)')
    ax.set_title(title)
    kib = {c: n * 4 for c, n in counts.items()}
    ax.legend(handles=[
        Patch(color=colours[0], label=f'free in the pool: {counts["."]} '
                                      f'pages ({kib["."]} KiB)'),
        Patch(color=colours[1], label=f'used (donated): {counts["#"]} pages '
                                      f'({kib["#"]} KiB)'),
        Patch(color=colours[2], label=f'not in the pool: {counts["-"]} pages')],
        loc='upper center', bbox_to_anchor=(0.5, -0.12), ncol=1,
        fontsize='small')
    fig.tight_layout()
    fig.savefig(dest, dpi=100)
    plt.close(fig)
    return dest


def occupancy_png(map_lines, dest, scale=2):
    """Render the debugfs occupancy map (64 pages a line) as a PNG: free
    pages green, used red, pages not in the pool grey. Standard library
    only: the PNG is written by hand, one byte per pixel, palette."""
    import struct
    import zlib
    palette = {'.': 0, '#': 1, '-': 2}
    colours = bytes([60, 170, 90, 200, 50, 50, 150, 150, 150])
    rows = [line.split()[1] for line in map_lines if len(line.split()) == 2]
    width = 64 * scale
    raw = b''
    for row in rows:
        pixels = bytes(palette.get(c, 2) for c in row.ljust(64, '-')
                       for _ in range(scale))
        raw += (b'\0' + pixels) * scale

    def chunk(kind, data):
        return (struct.pack('>I', len(data)) + kind + data +
                struct.pack('>I', zlib.crc32(kind + data)))
    png = (b'\x89PNG\r\n\x1a\n' +
           chunk(b'IHDR', struct.pack('>IIBBBBB', width, len(rows) * scale,
                                      8, 3, 0, 0, 0)) +
           chunk(b'PLTE', colours) + chunk(b'IDAT', zlib.compress(raw)) +
           chunk(b'IEND', b''))
    Path(dest).write_bytes(png)
    return dest


# The linear map as ptdump prints it (CONFIG_PTDUMP_DEBUGFS): a guest script
# that dumps it as "lm", with the start of RAM as "ram".
PTDUMP_SCRIPT = r'''
kvc ram awk -F'[- :]+' '/System RAM/ { print $1; exit }' /proc/iomem
sed -n '/Linear Mapping start/,/Linear Mapping end/p' /sys/kernel/debug/kernel_page_tables > /tmp/lm
dump lm cat /tmp/lm
'''

PT_LINE = re.compile(r'^0x([0-9a-f]+)-0x([0-9a-f]+)\s+\d+[KMG]\s+(PGD|P4D|PUD|PMD|PTE)\s+(.*)$')


def linear_map(b, phys=None):
    """[(start, end, level, attributes)] of the linear map dumped by
    PTDUMP_SCRIPT and, given a physical address, its linear address."""
    rows = []
    for line in b.dumps.get('lm', []):
        m = PT_LINE.match(line.strip())
        if m:
            rows.append((int(m[1], 16), int(m[2], 16), m[3], m[4].split()))
    if not rows:
        raise HarnessError(f'{b.name}: no linear map in the ptdump')
    va = None if phys is None else rows[0][0] + phys - int(b.kv['ram'], 16)
    return rows, va


def page_table_pages(rows):
    """Page-table pages the linear map needs below the PUD level: a PTE
    table per 2 MiB with pages in it, a PMD table per 1 GiB with either."""
    pte, pmd = set(), set()
    for start, end, level, _ in rows:
        if level in ('PTE', 'PMD'):
            pmd.update(range(start >> 30, ((end - 1) >> 30) + 1))
        if level == 'PTE':
            pte.update(range(start >> 21, ((end - 1) >> 21) + 1))
    return len(pte), len(pmd)
