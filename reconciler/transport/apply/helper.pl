# The target-side half of apply: reads the length-prefixed stream written by protocol.ts and
# answers in the reply frames documented there. It travels with every run (nothing is installed on
# targets); helper.ts prepends the shared constants (MAGIC, MARKER, STAGE_DIR, TAG_*, FRAME_*,
# ACT_*, OP_*, R_*, C_* from protocol.ts WIRE) as `use constant`, so this file does not compile alone.
# One implementation serves local targets (spawned `sh -c`) and SSH targets (exec channel).
# Confinement is done by walking into each parent directory with lstat + chdir and comparing
# device/inode, then acting on a single name in that directory, so no syscall ever resolves a
# symlink planted below ROOT. Content only becomes visible through rename() of a complete staging
# file in ROOT/STAGE_DIR.
use strict;
use warnings;
use Cwd ();
use IO::Handle ();
use Fcntl qw(:DEFAULT :flock :mode :seek);
use Errno qw(ENOENT EEXIST ENOTEMPTY EINTR ELOOP);

my $HR = eval { require Time::HiRes; 1 } ? 1 : 0;
# Time::HiRes::lstat/utime give sub-second times; without them times are whole seconds.
my $HRSTAT = $HR && defined &Time::HiRes::lstat;
sub xlstat { $HRSTAT ? Time::HiRes::lstat($_[0]) : lstat($_[0]) }
sub xfstat { $HR && defined &Time::HiRes::stat ? Time::HiRes::stat($_[0]) : stat($_[0]) }
sub xutime { my ($t, $p) = @_; $HR ? Time::HiRes::utime($t, $t, $p) : utime(int($t), int($t), $p) }
sub now { $HR ? Time::HiRes::time() : time() }

binmode STDIN; binmode STDOUT;
my ($IN, $IP, $OUT) = ('', 0, '');
my ($ROOT, $STAGE, $CWD, $CUR, $LOCKFH) = ('', '', undef, undef, undef);
my (@ROOTID, $FSYNC, $LOCKWAIT);
my ($SEQ, $READY) = (0, 0);
my @ROOTTIMES;  # (atime, mtime) of ROOT as the plan left it, restored after the staging dir goes

# A staging file of an interrupted op must not linger; a kill -9 leaves it to the next run's cleanup.
sub root_times { my @st = $HR && defined &Time::HiRes::stat ? Time::HiRes::stat($ROOT) : stat($ROOT); @ROOTTIMES = @st[8, 9] if @st }
# Removing the staging dir changes ROOT's mtime: put back what the plan (or the run before it) left.
sub unstage {
  return unless length $STAGE;
  rmdir $STAGE or return;
  ($HR ? Time::HiRes::utime(@ROOTTIMES, $ROOT) : utime(int($ROOTTIMES[0]), int($ROOTTIMES[1]), $ROOT)) if @ROOTTIMES;
}
sub bail { unlink $CUR or rmdir $CUR if defined $CUR; unstage(); exit $_[0] }
$SIG{$_} = sub { bail(130) } for qw(TERM INT HUP);
$SIG{PIPE} = sub { bail(141) };

sub flush_out {
  while (length $OUT) {
    my $w = syswrite(STDOUT, $OUT);
    if (!defined $w) { next if $! == EINTR; bail(5) }
    substr($OUT, 0, $w, '');
  }
}
sub reply { $OUT .= $_[0]; flush_out() if length($OUT) >= 65536 }
sub fatal { reply(pack('a a N/a*', R_FATAL, $_[0], $_[1])); flush_out(); bail(2) }

# Replies are flushed whenever we are about to wait for input, so the sender sees progress without
# a write per op.
sub fill {
  my ($n) = @_;
  while (length($IN) - $IP < $n) {
    if ($IP) { substr($IN, 0, $IP, ''); $IP = 0 }
    flush_out();
    my $r = sysread(STDIN, $IN, 1 << 20, length $IN);
    if (!defined $r) { next if $! == EINTR; bail(3) }
    return 0 if !$r;
  }
  1;
}
sub take { my ($n) = @_; fill($n) or bail(3); my $s = substr($IN, $IP, $n); $IP += $n; $s }

sub errtext { my $e = "$_[0]"; $e =~ s/\s+$//; $e =~ s/\n/ /g; $e }

sub chdir_root {
  chdir $ROOT or fatal(C_IO, "cannot enter root: $!");
  my @s = stat '.';
  fatal(C_UNSAFE, 'root was replaced during apply') unless @s && $s[0] == $ROOTID[0] && $s[1] == $ROOTID[1];
  $CWD = '';
}

sub setup {
  my ($op) = @_;
  $ROOT = Cwd::getcwd() . '/' . $ROOT unless $ROOT =~ m{^/};
  my @st = lstat $ROOT;
  if (!@st) {
    fatal(C_IO, "cannot stat root: $!") unless $! == ENOENT;
    fatal(C_IO, 'root does not exist and the plan does not create it')
      unless $op->{kind} eq OP_MKDIR && $op->{path} eq '';
    my $p = '';
    for my $c (grep { length } split m{/}, $ROOT) {
      $p .= "/$c";
      next if -d $p;
      mkdir($p, 0755) or $! == EEXIST or fatal(C_IO, "cannot create $p: $!");
    }
    @st = lstat $ROOT;
  }
  fatal(C_UNSAFE, 'root is a symlink, not a directory') if @st && S_ISLNK($st[2]);
  fatal(C_IO, 'root is not a directory') unless @st && S_ISDIR($st[2]);
  @ROOTID = @st[0, 1];
  root_times();
  # The lock is on the root directory itself, so the staging dir can be removed when we are done
  # without racing a waiting run (a lock file inside it would be unlinked under the waiter).
  sysopen($LOCKFH, $ROOT, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) or fatal(C_IO, "cannot open root: $!");
  my $until = now() + $LOCKWAIT / 1000;
  until (flock($LOCKFH, LOCK_EX | LOCK_NB)) {
    fatal(C_BUSY, "another tsync apply is running on $ROOT") if now() >= $until;
    select(undef, undef, undef, 0.1);
  }
  $STAGE = "$ROOT/" . STAGE_DIR;
  mkdir($STAGE, 0700) or $! == EEXIST or fatal(C_IO, "cannot create $STAGE: $!");
  my @s = lstat $STAGE;
  if (@s && S_ISLNK($s[2])) { unlink $STAGE; mkdir($STAGE, 0700) or fatal(C_IO, "cannot create $STAGE: $!"); @s = lstat $STAGE }
  fatal(C_UNSAFE, "$STAGE is not a directory") unless @s && S_ISDIR($s[2]);
  # We hold the lock, so anything in the staging dir belongs to a run that was killed.
  opendir(my $dh, $STAGE) or fatal(C_IO, "cannot list $STAGE: $!");
  for my $e (readdir $dh) { unlink "$STAGE/$e" or rmdir "$STAGE/$e" unless $e eq '.' || $e eq '..' }
  closedir $dh;
  chdir_root();
  $READY = 1;
}

# Enter the parent of $path one verified component at a time; returns (code, msg) or (undef, undef, base).
sub enter {
  my ($path) = @_;
  if ($path eq '') { chdir_root(); return (undef, undef, '.') }
  my @c = split m{/}, $path, -1;
  my $base = pop @c;
  for my $x (@c, $base) { return (C_UNSAFE, 'invalid path component') if $x eq '' || $x eq '.' || $x eq '..' || $x =~ /\0/ }
  my $dir = join '/', @c;
  return (undef, undef, $base) if defined $CWD && $CWD eq $dir;
  chdir_root();
  my $sofar = '';
  for my $x (@c) {
    $sofar = $sofar eq '' ? $x : "$sofar/$x";
    my @st = lstat $x;
    if (!@st) { $CWD = undef; return (C_IO, "parent directory missing: $!") }
    if (S_ISLNK($st[2])) { $CWD = undef; return (C_UNSAFE, 'a parent is a symlink; nothing is written through it') }
    if (!S_ISDIR($st[2])) { $CWD = undef; return (C_UNSAFE, 'a parent is not a directory') }
    if (!chdir $x) { $CWD = undef; return (C_IO, "cannot enter parent: $!") }
    my @now = stat '.';
    if (!@now || $now[0] != $st[0] || $now[1] != $st[1]) { $CWD = undef; return (C_UNSAFE, 'a parent changed while entering it') }
  }
  $CWD = $dir;
  (undef, undef, $base);
}

sub what { my $m = $_[0][2]; S_ISREG($m) ? 'a file' : S_ISDIR($m) ? 'a directory' : S_ISLNK($m) ? 'a symlink' : 'a special file' }
sub same_time { my ($s, $ms) = @_; $HRSTAT ? abs($s * 1000 - $ms) < 0.01 : int($s) == int($ms / 1000) }

# Compare the target with the plan's expectation; returns (code, msg) or (undef, undef, lstat-or-undef).
sub check_before {
  my ($op, $base) = @_;
  my ($b, $k) = ($op->{before}, $op->{kind});
  my @st = xlstat($base);
  return (C_IO, "cannot stat: $!") if !@st && $! != ENOENT;
  my $cur = @st ? \@st : undef;
  return (undef, undef, $cur) if $k eq OP_MKDIR && $cur && S_ISDIR($st[2]);
  my $t = $b->{type};
  if ($t eq '-') { return $cur ? (C_STALE, 'target has ' . what($cur) . ' where the plan expected nothing') : (undef, undef, undef) }
  # An op that replaces something may find it already removed by an earlier op of the same plan.
  if (!$cur) { return ($k eq OP_MKDIR || $k eq OP_CREATE || $k eq OP_SYMLINK) ? (undef, undef, undef) : (C_STALE, 'target path no longer exists') }
  return (undef, undef, $cur) if $t eq 'x';
  my $m = $st[2];
  if ($t eq 'f') {
    return (C_STALE, 'expected a file, found ' . what($cur)) unless S_ISREG($m);
    return (C_STALE, "file changed since the plan (size $st[7], plan saw $b->{size})") if $st[7] != $b->{size};
    return (C_STALE, 'file changed since the plan (mtime)') unless same_time($st[9], $b->{mtime});
  } elsif ($t eq 'd') {
    return (C_STALE, 'expected a directory, found ' . what($cur)) unless S_ISDIR($m);
  } elsif ($t eq 'l') {
    return (C_STALE, 'expected a symlink, found ' . what($cur)) unless S_ISLNK($m);
    my $l = readlink $base;
    return (C_STALE, 'symlink target changed since the plan') unless defined $l && $l eq $b->{target};
  }
  (undef, undef, $cur);
}

sub drop { close $_[0] if $_[0]; unlink $CUR if defined $CUR; undef $CUR }
sub stage_name { $CUR = "$STAGE/$$." . ++$SEQ }
sub owner_args { my $a = $_[0]; (($a->{flags} & 1) ? $a->{uid} : -1, ($a->{flags} & 2) ? $a->{gid} : -1) }
sub lchown {
  my ($p, $a) = @_;
  # Core Perl has no lchown; chown(1) -h never follows the link.
  my $spec = ($a->{flags} & 1 ? $a->{uid} : '') . (($a->{flags} & 2) ? ":$a->{gid}" : '');
  system('chown', '-h', $spec, '--', $p) == 0 ? () : (C_IO, 'chown -h failed');
}
sub make_room {
  my ($base, $cur) = @_;
  return () unless $cur && S_ISDIR($cur->[2]);
  rmdir($base) and return ();
  (C_IO, ($! == ENOTEMPTY || $! == EEXIST) ? 'cannot replace a non-empty directory' : "rmdir: $!");
}
sub meta {
  my ($p, $a, $bits) = @_;
  if ($bits & ACT_OWNER) { chown(owner_args($a), $p) or return (C_IO, "chown: $!") }
  if ($bits & ACT_MODE) { chmod($a->{mode} & 07777, $p) or return (C_IO, "chmod: $!") }
  if ($bits & ACT_TIMES) { xutime($a->{mtime} / 1000, $p) or return (C_IO, "set times: $!") }
  ();
}

# Content frames: N length + bytes, N FRAME_HOLE + N length of zeros, N FRAME_END = end, N
# FRAME_ABORT = the sender aborted this file. A hole is a seek in the fresh staging file, so those
# blocks are never allocated; the final truncate gives a file that ends in a hole its size.
sub receive {
  my ($fh) = @_;
  my ($got, $werr, $holes) = (0, undef, 0);
  while (1) {
    my $n = unpack 'N', take(4);
    if ($n == FRAME_END) {
      if ($holes && $fh && !defined $werr) { truncate($fh, $got) or $werr = "truncate: $!" }
      return ('end', $got, $werr);
    }
    return ('abort', $got, $werr) if $n == FRAME_ABORT;
    if ($n == FRAME_HOLE) {
      $n = unpack 'N', take(4);
      $got += $n;
      $holes = 1;
      if ($fh && !defined $werr) { defined(sysseek($fh, $n, SEEK_CUR)) or $werr = "seek: $!" }
      next;
    }
    $got += $n;
    while ($n > 0) {
      fill(1) or bail(3);
      my $avail = length($IN) - $IP;
      my $k = $avail < $n ? $avail : $n;
      if ($fh && !defined $werr) {
        my ($off, $left) = ($IP, $k);
        while ($left > 0) {
          my $w = syswrite($fh, $IN, $left, $off);
          if (!defined $w) { next if $! == EINTR; $werr = "$!"; last }
          $off += $w; $left -= $w;
        }
      }
      $IP += $k; $n -= $k;
    }
  }
}

# A create whose bytes the target already has at another path (a move): copy that file into the
# staging file. It is reached like any path (enter: every component lstat'ed, no symlink followed),
# must be the regular file the plan saw (size, mtime) before it is opened (so no FIFO or device is
# ever opened) and still after the copy, and is opened O_NOFOLLOW and checked to be the same inode.
# Anything else is stale: the next plan sends the content.
sub copy_from {
  my ($f, $fh) = @_;
  my ($code, $msg, $base) = enter($f->{path});
  return ($code eq C_UNSAFE ? C_UNSAFE : C_STALE, "copy source: $msg") if $code;
  my $e = $f->{entry};
  my @l = xlstat($base);
  return (C_STALE, 'copy source no longer exists') unless @l;
  return (C_STALE, 'copy source is now ' . what(\@l)) unless S_ISREG($l[2]);
  return (C_STALE, "copy source changed since the plan (size $l[7], plan saw $e->{size})") if $l[7] != $e->{size};
  return (C_STALE, 'copy source changed since the plan (mtime)') unless same_time($l[9], $e->{mtime});
  my $in;
  if (!sysopen($in, $base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)) {
    return (C_STALE, $! == ELOOP ? 'copy source is now a symlink' : $! == ENOENT ? 'copy source no longer exists' : "cannot open copy source: $!");
  }
  my @s = xfstat($in);
  if (!@s || $s[0] != $l[0] || $s[1] != $l[1]) { close $in; return (C_STALE, 'copy source was replaced while opening it') }
  my ($got, $buf, $err) = (0, '', undef);
  COPY: while (1) {
    my $r = sysread($in, $buf, 4 << 20);
    if (!defined $r) { next if $! == EINTR; $err = "read copy source: $!"; last }
    last if !$r;
    my $off = 0;
    while ($off < $r) {
      my $w = syswrite($fh, $buf, $r - $off, $off);
      if (!defined $w) { next if $! == EINTR; $err = "write failed: $!"; last COPY }
      $off += $w;
    }
    $got += $r;
  }
  @s = xfstat($in);
  close $in;
  return (C_IO, $err) if defined $err;
  return (C_STALE, 'copy source changed during the copy')
    unless $got == $e->{size} && @s && $s[7] == $e->{size} && same_time($s[9], $e->{mtime});
  ();
}

# A create that hard-links another target name (preserve hardlinks). The link source is reached and
# checked like copy_from's (every parent lstat'ed, a regular file of the planned size and mtime),
# linked to a staging name (link(2) never follows a symlink at the old name) and renamed over the
# path, so the name turns atomically from its old file into the shared inode, whose metadata is the
# link source's own. Anything else is stale: the next plan links it.
sub link_op {
  my ($op, $code, $msg) = @_;
  return ($code, $msg) if $code;
  my ($c, $m, $base) = enter($op->{from}{path});
  return ($c eq C_UNSAFE ? C_UNSAFE : C_STALE, "link source: $m") if $c;
  my $e = $op->{from}{entry};
  my @l = xlstat($base);
  return (C_STALE, 'link source no longer exists') unless @l;
  return (C_STALE, 'link source is now ' . what(\@l)) unless S_ISREG($l[2]);
  return (C_STALE, "link source changed since the plan (size $l[7], plan saw $e->{size})") if $l[7] != $e->{size};
  return (C_STALE, 'link source changed since the plan (mtime)') unless same_time($l[9], $e->{mtime});
  stage_name();
  if (!link($base, $CUR)) { my $err = "$!"; undef $CUR; return (C_IO, "link: $err") }
  my @s = lstat $CUR;
  if (!@s || $s[0] != $l[0] || $s[1] != $l[1]) { drop(); return (C_STALE, 'link source was replaced while linking it') }
  my @r = enter($op->{path});
  if ($r[0]) { drop(); return @r[0, 1] }
  my @b = check_before($op, $r[2]);
  if ($b[0]) { drop(); return @b[0, 1] }
  my @d = make_room($r[2], $b[2]);
  if (@d) { drop(); return @d }
  if (!rename($CUR, $r[2])) { my $err = "$!"; drop(); return (C_IO, "rename into place: $err") }
  # rename() between two names of one inode does nothing (the path already was the link).
  unlink $CUR if lstat $CUR;
  undef $CUR;
  ();
}

sub content_op {
  my ($op, $code, $msg, $base) = @_;
  return link_op($op, $code, $msg) if $op->{from} && $op->{from}{link};
  my $a = $op->{after};
  my $fh;
  if (!$code) {
    stage_name();
    if (!sysopen($fh, $CUR, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600)) { ($code, $msg) = (C_IO, "cannot create staging file: $!"); undef $CUR; undef $fh }
  }
  my $werr;
  if ($op->{from}) {
    # No content frames follow a copy.
    return ($code, $msg) if $code;
    my @e = copy_from($op->{from}, $fh);
    if (@e) { drop($fh); return @e }
    # copy_from left us in the copy source's directory: back to the parent of the path.
    my @r = enter($op->{path});
    if ($r[0]) { drop($fh); return @r[0, 1] }
    $base = $r[2];
  } else {
    my ($end, $got);
    ($end, $got, $werr) = receive($fh);
    if ($end eq 'abort') { drop($fh); return (C_ABORTED, 'aborted by sender') }
    return ($code, $msg) if $code;
    $werr = "received $got bytes, expected $a->{size}" if !defined $werr && $got != $a->{size};
  }
  if (!defined $werr) {
    eval {
      if ($op->{act} & ACT_OWNER) { chown(owner_args($a), $fh) or die "chown: $!\n" }
      chmod($a->{mode} & 07777, $fh) or die "chmod: $!\n";
      if ($FSYNC) { $fh->sync or die "fsync: $!\n" }
      close $fh or die "close: $!\n";
      undef $fh;
      xutime($a->{mtime} / 1000, $CUR) or die "set times: $!\n";
      1;
    } or $werr = errtext($@);
  }
  if (defined $werr) { drop($fh); return (C_IO, "write failed: $werr") }
  # The target may have changed while the content streamed: look again right before the rename.
  my @c = check_before($op, $base);
  if ($c[0]) { drop(); return @c[0, 1] }
  my @d = make_room($base, $c[2]);
  if (@d) { drop(); return @d }
  if (!rename($CUR, $base)) { my $e = "$!"; drop(); return (C_IO, "rename into place: $e") }
  undef $CUR;
  ();
}

sub act {
  my ($op, $base, $cur) = @_;
  my ($k, $a, $bits) = ($op->{kind}, $op->{after}, $op->{act});
  if ($k eq OP_MKDIR) {
    return meta($base, $a, $bits) if $cur && S_ISDIR($cur->[2]);
    # A new directory is made whole in the staging dir (mode, owner, times), then renamed into place:
    # it never shows with a mode or owner other than planned (a web server could not read a 0700
    # one), and a failure leaves nothing behind.
    stage_name();
    if (!mkdir($CUR, 0700)) { my $e = "$!"; undef $CUR; return (C_IO, "mkdir: $e") }
    # What mkdir in place would give: under a setgid parent, the parent's group (best effort).
    my @p = stat '.';
    chown(-1, $p[5], $CUR) if @p && ($p[2] & S_ISGID) && !(($bits & ACT_OWNER) && ($a->{flags} & 2));
    my @e = meta($CUR, $a, $bits);
    if (@e) { rmdir $CUR; undef $CUR; return @e }
    if ($cur && !unlink $base) { my $x = "$!"; rmdir $CUR; undef $CUR; return (C_IO, "cannot remove what the directory replaces: $x") }
    if (!rename($CUR, $base)) { my $x = "$!"; rmdir $CUR; undef $CUR; return (C_IO, "rename into place: $x") }
    undef $CUR;
    return ();
  }
  if ($k eq OP_SYMLINK) {
    stage_name();
    if (!symlink($a->{target}, $CUR)) { my $e = "$!"; undef $CUR; return (C_IO, "symlink: $e") }
    if ($bits & ACT_OWNER) { my @e = lchown($CUR, $a); if (@e) { drop(); return @e } }
    my @d = make_room($base, $cur);
    if (@d) { drop(); return @d }
    if (!rename($CUR, $base)) { my $e = "$!"; drop(); return (C_IO, "rename into place: $e") }
    undef $CUR;
    return ();
  }
  if ($k eq OP_DELETE || $k eq OP_RMDIR) {
    return (C_UNSAFE, 'refusing to remove the root') if $op->{path} eq '';
    if (S_ISDIR($cur->[2])) {
      rmdir($base) or return (C_IO, ($! == ENOTEMPTY || $! == EEXIST) ? 'directory not empty' : "rmdir: $!");
    } else {
      unlink($base) or return (C_IO, "unlink: $!");
    }
    return ();
  }
  # chmod / chown / touch (main refused any other kind). A symlink has no mode of its own and core
  # Perl has no lutimes: only owner.
  if (S_ISLNK($cur->[2])) { return ($bits & ACT_OWNER) ? lchown($base, $a) : () }
  meta($base, $a, $bits);
}

sub run_op {
  my ($op) = @_;
  my @r = eval { my ($c, $m, $base) = enter($op->{path}); $c ? ($c, $m) : do { my @x = check_before($op, $base); $x[0] ? @x[0, 1] : (undef, undef, $base, $x[2]) } };
  @r = (C_IO, errtext($@)) if $@;
  return content_op($op, @r) if $op->{kind} eq OP_CREATE || $op->{kind} eq OP_UPDATE;
  return @r[0, 1] if $r[0];
  my @x = eval { act($op, $r[2], $r[3]) };
  return (C_IO, errtext($@)) if $@;
  @x;
}

sub entry { my %e; @e{qw(type mode flags uid gid mtime hi lo target)} = @_; $e{size} = $e{hi} * 4294967296 + $e{lo}; \%e }

fatal(C_PROTOCOL, 'bad stream header') unless take(length MAGIC) eq MAGIC;
my ($flags, $rootlen);
($flags, $LOCKWAIT, $rootlen) = unpack 'N N N', take(12);
$FSYNC = $flags & 1;
$ROOT = take($rootlen);
reply(MARKER);
flush_out();

my %KNOWN = map { $_ => 1 } (OP_MKDIR, OP_CREATE, OP_UPDATE, OP_SYMLINK, OP_CHMOD, OP_CHOWN, OP_TOUCH, OP_DELETE, OP_RMDIR);
my $E = 'a N C N N d> N N N/a*';
my ($n, $ok) = (0, 0);
while (fill(1)) {
  my $tag = take(1);
  if ($tag eq TAG_END) { unstage(); reply(pack('a N N', R_DONE, $n, $ok)); flush_out(); exit 0 }
  fatal(C_PROTOCOL, 'protocol error: expected an op') unless $tag eq TAG_OP;
  my ($kind, $act, $path, @f) = unpack("a C N/a* $E $E a*", take(unpack('N', take(4))));
  # An op we do not know could be followed by frames or not: nothing after it can be read safely.
  fatal(C_PROTOCOL, sprintf('protocol error: unknown op kind 0x%02x', ord $kind)) unless $KNOWN{$kind};
  my $op = { kind => $kind, act => $act, path => $path, before => entry(@f[0 .. 8]), after => entry(@f[9 .. 17]) };
  if ($kind eq OP_CREATE && length $f[18]) {
    my ($from, @g) = unpack("N/a* $E a", $f[18]);
    fatal(C_PROTOCOL, 'protocol error: unknown copy mode') unless $g[9] eq COPY_BYTES || $g[9] eq COPY_LINK;
    $op->{from} = { path => $from, entry => entry(@g[0 .. 8]), link => $g[9] eq COPY_LINK };
  }
  setup($op) unless $READY;
  my ($code, $msg) = run_op($op);
  root_times() if $op->{path} eq '' && !$code;
  if ($code) { reply(pack('a N a N/a*', R_PROBLEM, $n, $code, $msg)) } else { reply(pack('a N', R_OK, $n)); $ok++ }
  $n++;
}
unstage();
flush_out();
exit 0;
