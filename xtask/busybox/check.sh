# `cargo xtask busybox` (xtask/src/busybox.rs): shell and
# applet checks run by Debian's busybox ash, on Tine at -smp 1 and 4 and,
# to check this script itself, on Linux (`cargo xtask busybox --linux`).
# Each check prints `bbcheck NAME ... ok` or `... FAILED: why`; the last
# line is `busybox result: N passed, M failed`; the exit status is the
# number of failures.
export PATH=/bin:/usr/bin:/sbin:/usr/sbin
# Linux's initramfs has busybox alone: links, /proc and /dev first.
[ -e /bin/sort ] || /bin/busybox --install -s /bin
[ -e /proc/self/stat ] || { mkdir -p /proc && mount -t proc proc /proc; }
[ -e /dev/null ] || { mkdir -p /dev && mount -t devtmpfs dev /dev; }
mkdir -p /tmp && cd /tmp || exit 100
passed=0
failed=0
expect() { # NAME WANTED GOT
	if [ "$2" = "$3" ]; then
		echo "bbcheck $1 ... ok"
		passed=$((passed + 1))
	else
		echo "bbcheck $1 ... FAILED: wanted [$2], got [$3]"
		failed=$((failed + 1))
	fi
}

# Pipelines and command substitution.
expect pipeline 3 "$(printf 'a\nb\nc\n' | wc -l)"
expect pipeline-of-four "c b a" "$(printf 'a\nb\nc\n' | sort -r | tr '\n' ' ' | sed 's/ $//')"
expect command-substitution x-y "$(echo x)-$(echo "$(echo y)")"
expect arithmetic 42 "$((6 * 7))"
expect exit-status "1 0" "$(false; a=$?; true; echo "$a $?")"

# read loops: from a file, a pipe, and the standard input of a subshell.
printf '1 one\n2 two\n3 three\n' >/tmp/bb-in
out=
while read -r n w; do out="$out$n=$w;"; done </tmp/bb-in
expect read-loop-file "1=one;2=two;3=three;" "$out"
expect read-loop-pipe "x,y," "$(printf 'x\ny\n' | while read -r l; do printf '%s,' "$l"; done)"
expect read-timeout 1 "$(sleep 2 | { read -t 1 l; echo $(($? > 128 || $? == 1)); })"

# Here-documents.
out=$(cat <<END
line $((1 + 1))
  kept
END
)
expect heredoc "line 2
  kept" "$out"
expect heredoc-quoted '$HOME' "$(cat <<'END'
$HOME
END
)"

# Background jobs, wait and kill.
sleep 30 &
pid=$!
kill "$pid"
wait "$pid"
expect kill-then-wait 143 $?
(exit 7) &
wait $!
expect wait-status 7 $?
sleep 1 & sleep 1 &
wait
expect wait-all 0 $?
expect kill-bad-pid 1 "$(kill 999999 2>/dev/null; echo $?)"

# trap.
expect trap-signal "caught
after" "$(sh -c 'trap "echo caught" USR1; kill -USR1 $$; echo after')"
expect trap-exit "hi
bye" "$(sh -c 'trap "echo bye" EXIT; echo hi')"
expect trap-int-ignored alive "$(sh -c 'trap "" INT; kill -INT $$; echo alive')"

# timeout.
timeout 1 sleep 10
expect timeout-kills 143 $?
expect timeout-passes-status 3 "$(timeout 5 sh -c 'exit 3'; echo $?)"

# xargs, find, sort, dd.
expect xargs "3" "$(echo a b c | xargs -n 1 echo | wc -l)"
expect xargs-args "x y z" "$(printf 'x\ny\nz\n' | xargs echo)"
rm -rf /tmp/bb-find
mkdir -p /tmp/bb-find/d/e
touch /tmp/bb-find/d/x /tmp/bb-find/y /tmp/bb-find/d/e/z
expect find-files "/tmp/bb-find/d/e/z /tmp/bb-find/d/x /tmp/bb-find/y" \
	"$(find /tmp/bb-find -type f | sort | tr '\n' ' ' | sed 's/ $//')"
expect find-name /tmp/bb-find/d/x "$(find /tmp/bb-find -name x)"
expect sort-numeric "1 2 10" "$(printf '10\n2\n1\n' | sort -n | tr '\n' ' ' | sed 's/ $//')"
expect sort-unique "a b" "$(printf 'b\na\nb\n' | sort -u | tr '\n' ' ' | sed 's/ $//')"
expect dd-zero 4096 "$(dd if=/dev/zero bs=512 count=8 2>/dev/null | wc -c)"
dd if=/dev/urandom of=/tmp/bb-rand bs=256 count=4 2>/dev/null
expect dd-file 1024 "$(wc -c </tmp/bb-rand)"
expect dd-full "no space" "$(dd if=/dev/zero of=/dev/full bs=1 count=1 2>&1 | grep -o 'o space' | sed 's/^/n/')"

# Files: links, renames, modes.
cd /tmp && rm -rf bb-files && mkdir bb-files && cd bb-files || exit 100
echo data >f
ln -s f soft
ln f hard
mv f moved
expect readlink f "$(readlink soft)"
expect hard-link data "$(cat hard)"
expect dangling-link 1 "$(cat soft 2>/dev/null; echo $?)"
chmod 640 moved
expect chmod 640 "$(stat -c %a moved)"
expect link-count 2 "$(stat -c %h moved)"
chown 1000:100 moved
expect chown 1000:100 "$(stat -c %u:%g moved)"
chgrp 5 moved
expect chgrp 1000:5 "$(stat -c %u:%g moved)"
ln -s moved soft2
chown -h 7:8 soft2
expect chown-h "7:8 1000:5" "$(stat -c %u:%g soft2) $(stat -L -c %u:%g soft2)"
mkfifo fifo
expect mkfifo-type "fifo" "$(stat -c %F fifo)"
(echo through >fifo &)
expect fifo-read through "$(cat fifo)"
expect fifo-ls p "$(ls -l fifo | cut -c1)"
fallocate -l 8192 big
expect fallocate 8192 "$(stat -c %s big)"
mkdir -p a/b
expect umount-not-mounted 1 "$(umount a/b 2>/dev/null; echo $?)"
rmdir a/b a
expect rmdir gone "$(ls -d a 2>/dev/null || echo gone)"
cd /tmp && rm -rf bb-files bb-find bb-in bb-rand

# ps, top, free over /proc.
sleep 20 &
pid=$!
# The child may not have exec'd `sleep` yet (another CPU): up to 5 s.
i=0
until grep -q sleep /proc/$pid/comm 2>/dev/null || [ $i -ge 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
expect ps-finds-sleep "sleep 20" "$(ps | awk -v p=$pid '$1 == p' | grep -o 'sleep 20')"
expect ps-o "$pid sleep" "$(ps -o pid,comm | awk -v p=$pid '$1 == p { print $1, $2 }')"
kill $pid
wait $pid 2>/dev/null
expect top-one-screen Mem: "$(top -bn1 | head -1 | cut -d' ' -f1)"
expect free total "$(free | head -1 | awk '{ print $1 }')"
expect uptime up "$(uptime | grep -o ' up ' | tr -d ' ')"
expect id "uid=0 gid=0 0" "$(id | cut -d' ' -f1,2) $(id >/dev/null 2>&1; echo $?)"
old=$(hostname)
hostname bb-host
expect hostname bb-host "$(hostname)"
hostname "$old"
expect fdisk-l 0 "$(fdisk -l >/dev/null 2>&1; echo $?)"

# Nice values (getpriority/setpriority; Debian's busybox has renice, no
# nice): renice -n adds to a process's nice value, /proc/PID/stat shows
# it (field 19), a child inherits it.
cat >/tmp/bb-nice <<'END'
renice -n 5 -p $$ >/dev/null
a=$(cut -d' ' -f19 /proc/$$/stat)
renice -n 2 -p $$ >/dev/null
echo $a $(sh -c 'cut -d" " -f19 /proc/$$/stat')
END
expect renice-self "5 7" "$(sh /tmp/bb-nice)"
rm -f /tmp/bb-nice
sleep 10 &
pid=$!
renice -n 3 -p $pid >/dev/null
expect renice 3 "$(cut -d' ' -f19 /proc/$pid/stat)"
kill $pid
wait $pid 2>/dev/null

echo "busybox result: $passed passed, $failed failed"
exit $failed
