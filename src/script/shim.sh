# rcinit's evaluation shim. rcinit runs it as `sh -c SHIM rcinit-eval PASSES RUNLEVEL RCCONF DIR NAME PATH...`
# with fd 9 a pipe back to rcinit. For each script it runs the dependency pass (the order OpenRC's
# dependency generator uses) and, when PASSES is `both`, the run-time pass (openrc-run's order),
# each in a subshell of its own (PASSES `dep` or `run`: that pass alone; `mixed`: a fourth word
# per script, `one` for both passes from one subshell or `dep`), and reports what it found as NUL-terminated fields on fd 9:
#   B pass name pid | D verb args | S status | V name value | T name type-output | A n argv... |
#   E pass status | Z
# and a marker `\036pass name\036` on stderr so rcinit can tell whose messages follow.
# In evaluation it runs no daemon and changes nothing: helpers that would change state are no-ops.
# A script command's shell read this from fd 7 (`. /proc/self/fd/7`): nothing it runs inherits it.
exec 7<&-

_rcinit_out() { printf '%s\0' "$@" >&9; }

# --- what OpenRC's functions.sh and rc-functions.sh give scripts at load time ---
yesno() {
	[ -z "$1" ] && return 1
	case "$1" in
	[Yy][Ee][Ss] | [Tt][Rr][Uu][Ee] | [Oo][Nn] | 1) return 0 ;;
	[Nn][Oo] | [Ff][Aa][Ll][Ss][Ee] | [Oo][Ff][Ff] | 0) return 1 ;;
	# Not a variable name either: a bad substitution would end the shell.
	[0-9]* | *[!A-Za-z0-9_]*) return 2 ;;
	esac
	eval "_rcinit_y=\${$1-}"
	case "$_rcinit_y" in
	[Yy][Ee][Ss] | [Tt][Rr][Uu][Ee] | [Oo][Nn] | 1) return 0 ;;
	[Nn][Oo] | [Ff][Aa][Ll][Ss][Ee] | [Oo][Ff][Ff] | 0) return 1 ;;
	*) return 2 ;;
	esac
}
# L-30, the einfo family as OpenRC's: einfo, einfon and ebegin on stdout, ewarn and eerror on
# stderr, indented by EINFO_INDENT (at most 40), nothing under EINFO_QUIET but errors (those
# only under EERROR_QUIET); eerror returns 1; the v- variants act only under EINFO_VERBOSE.
_rcinit_yes() {
	case "${1-}" in [Yy][Ee][Ss] | [Yy] | [Tt][Rr][Uu][Ee] | [Oo][Nn] | 1) return 0 ;; esac
	return 1
}
# `_rcinit_msg FD END WORDS...`: on FD (1 or 2), ` * `, the indent, the words, END (a printf
# format: \n or none); first the newline owed to a line the last message left open.
_rcinit_msg() {
	_rcinit_fd=$1 _rcinit_e=$2
	shift 2
	_rcinit_close
	_rcinit_indent
	if [ "$_rcinit_fd" = 2 ]; then
		printf " * %${_rcinit_n}s%s$_rcinit_e" '' "$*" >&2
	else
		printf " * %${_rcinit_n}s%s$_rcinit_e" '' "$*"
	fi
}
# The newline a message owes the line the last one left open goes to the stream that line is
# on (OpenRC writes it to the new message's: the same bytes when both streams are one, and
# whole lines when rcinit forwards each).
_rcinit_close() {
	case "${EINFO_LASTCMD-}" in
	ewarn) ;;
	ewarnn) printf '\n' >&2 ;;
	*n) printf '\n' ;;
	esac
}
# EINFO_INDENT as a number of spaces, at most 40.
_rcinit_indent() {
	_rcinit_n=${EINFO_INDENT:-0}
	case $_rcinit_n in
	'' | *[!0-9]*) _rcinit_n=0 ;;
	???*) _rcinit_n=40 ;;
	esac
	[ "$_rcinit_n" -gt 40 ] && _rcinit_n=40
}
# What functions.sh's wrappers remember of the last message (eerror is not among them there).
_rcinit_last() {
	EINFO_LASTCMD=$1
	export EINFO_LASTCMD
}
einfo() {
	_rcinit_yes "${EINFO_QUIET-}" || _rcinit_msg 1 '\n' "$@"
	_rcinit_last einfo
}
einfon() {
	_rcinit_yes "${EINFO_QUIET-}" || _rcinit_msg 1 '' "$@"
	_rcinit_last einfon
}
ewarn() {
	_rcinit_yes "${EINFO_QUIET-}" || _rcinit_msg 2 '\n' "$@"
	_rcinit_last ewarn
}
ewarnn() {
	_rcinit_yes "${EINFO_QUIET-}" || _rcinit_msg 2 '' "$@"
	_rcinit_last ewarnn
}
eerror() {
	_rcinit_yes "${EERROR_QUIET-}" || _rcinit_msg 2 '\n' "$@"
	return 1
}
eerrorn() {
	_rcinit_yes "${EERROR_QUIET-}" || _rcinit_msg 2 '' "$@"
	return 1
}
# The line stays open for eend's verdict, as OpenRC leaves it when stdout is no terminal.
ebegin() {
	_rcinit_yes "${EINFO_QUIET-}" || _rcinit_msg 1 ' ...' "$@"
	_rcinit_last ebegin
}
# A status that is not a number counts as failure (as OpenRC's eend does), instead of the
# shell's "Illegal number" ending the evaluation.
_rcinit_status() {
	_rcinit_code _rcinit_sv "${1-}" || return 1
	return "$_rcinit_sv"
}
# `_rcinit_code VAR TEXT`: TEXT read whole as strtoimax reads a status (blanks, a sign, 0x hex,
# 0 octal, decimal; empty is 0), VAR set to its low byte (the exit status it makes); 1 when
# TEXT is no such number (or too long for one).
_rcinit_code() {
	_rcinit_t=$2
	while :; do
		case $_rcinit_t in
		[[:space:]]*) _rcinit_t=${_rcinit_t#?} ;;
		*) break ;;
		esac
	done
	_rcinit_sg=
	case $_rcinit_t in -*) _rcinit_sg=- ;; esac
	case $_rcinit_t in [-+]*) _rcinit_t=${_rcinit_t#?} ;; esac
	case $_rcinit_t in
	'')
		[ -z "$2" ] || return 1
		_rcinit_v=0
		;;
	0[xX]*)
		_rcinit_v=${_rcinit_t#??}
		case $_rcinit_v in '' | *[!0-9a-fA-F]*) return 1 ;; esac
		[ ${#_rcinit_v} -le 15 ] || return 1
		_rcinit_v=$((0x$_rcinit_v))
		;;
	0*)
		case $_rcinit_t in *[!0-7]*) return 1 ;; esac
		[ ${#_rcinit_t} -le 20 ] || return 1
		_rcinit_v=$(($_rcinit_t))
		;;
	*[!0-9]*) return 1 ;;
	*)
		[ ${#_rcinit_t} -le 18 ] || return 1
		_rcinit_v=$_rcinit_t
		;;
	esac
	[ -n "$_rcinit_sg" ] && _rcinit_v=$((-_rcinit_v))
	# Whether it is a failure is the int's business (OpenRC casts): 2^32 is no failure.
	_rcinit_nz=$((_rcinit_v % 4294967296 != 0))
	_rcinit_v=$(((_rcinit_v % 256 + 256) % 256))
	eval "$1=\$_rcinit_v"
}
# `_rcinit_end eend|ewend RC [MESSAGE...]`: the message (for a failure), then the verdict.
_rcinit_end() {
	_rcinit_l=$1
	shift
	_rcinit_r=0 _rcinit_nz=0
	if [ $# -gt 0 ]; then
		if _rcinit_code _rcinit_r "$1"; then shift; else _rcinit_r=1 _rcinit_nz=1; fi
	fi
	if [ "$_rcinit_nz" -eq 0 ]; then
		_rcinit_yes "${EINFO_QUIET-}" || printf ' [ ok ]\n'
	elif [ $# -gt 0 ]; then
		if [ "$_rcinit_l" = ewend ]; then
			_rcinit_yes "${EINFO_QUIET-}" || _rcinit_msg 2 '\n' "$@"
		else
			_rcinit_yes "${EERROR_QUIET-}" || _rcinit_msg 2 '\n' "$@"
		fi
		# The verdict right-aligned after the message, to COLUMNS (else 80) as OpenRC does
		# when the stream is no terminal.
		_rcinit_w=${COLUMNS:-80}
		case $_rcinit_w in '' | *[!0-9]* | ?????*) _rcinit_w=80 ;; esac
		_rcinit_msgline="$*"
		_rcinit_w=$((_rcinit_w - 7 - (3 + _rcinit_n + ${#_rcinit_msgline} + 1)))
		[ "$_rcinit_w" -gt 0 ] || _rcinit_w=0
		_rcinit_yes "${EINFO_QUIET-}" || printf "%${_rcinit_w}s [ !! ]\n" '' >&2
	else
		_rcinit_yes "${EINFO_QUIET-}" || printf ' [ !! ]\n'
	fi
	return "$_rcinit_r"
}
eend() {
	_rcinit_end eend "$@" && _rcinit_r=0
	_rcinit_last eend
	return "$_rcinit_r"
}
ewend() {
	_rcinit_end ewend "$@" && _rcinit_r=0
	_rcinit_last ewend
	return "$_rcinit_r"
}
veinfo() {
	if _rcinit_yes "${EINFO_VERBOSE-}"; then einfo "$@"; fi
	_rcinit_last veinfo
}
vewarn() {
	if _rcinit_yes "${EINFO_VERBOSE-}"; then ewarn "$@"; fi
	_rcinit_last vewarn
}
vebegin() {
	if _rcinit_yes "${EINFO_VERBOSE-}"; then ebegin "$@"; fi
	_rcinit_last vebegin
}
veend() { _rcinit_vend eend "$@"; }
vewend() { _rcinit_vend ewend "$@"; }
# The v- verdicts: said only under EINFO_VERBOSE, the status returned either way.
_rcinit_vend() {
	_rcinit_vk=$1
	shift
	if _rcinit_yes "${EINFO_VERBOSE-}"; then
		_rcinit_end "$_rcinit_vk" "$@" && _rcinit_r=0
	else
		_rcinit_r=0
		_rcinit_status "${1:-0}" || _rcinit_r=$?
	fi
	_rcinit_last "v$_rcinit_vk"
	return "$_rcinit_r"
}
# As 0.64's: no cap here (0.45 capped at 40); a message is indented at most 40 either way.
eindent() {
	_rcinit_n=${EINFO_INDENT:-0}
	case $_rcinit_n in '' | *[!0-9]* | ?????????*) _rcinit_n=0 ;; esac
	EINFO_INDENT=$((_rcinit_n + 2))
	export EINFO_INDENT
}
eoutdent() {
	_rcinit_n=${EINFO_INDENT:-0}
	case $_rcinit_n in '' | *[!0-9]* | ?????????*) _rcinit_n=0 ;; esac
	EINFO_INDENT=$((_rcinit_n - 2))
	[ "$EINFO_INDENT" -lt 0 ] && EINFO_INDENT=0
	return 0
}
veindent() { if _rcinit_yes "${EINFO_VERBOSE-}"; then eindent; fi; }
veoutdent() { if _rcinit_yes "${EINFO_VERBOSE-}"; then eoutdent; fi; }
# The container's log is the syslog here: the message is checked as OpenRC checks it, and
# rcinit keeps the script's own output.
esyslog() {
	case "${1-}" in
	*.emerg | *.alert | *.crit | *.err | *.error | *.warning | *.warn | *.notice | *.info | \
		*.debug | *.none | *.panic) ;;
	*)
		eerror "esyslog: invalid log level \`${1-}'"
		return 1
		;;
	esac
	if [ $# -lt 3 ]; then
		eerror "esyslog: not enough arguments"
		return 1
	fi
	return 0
}
# OpenRC's ewaitfile TIMEOUT FILE...: waits (every 20 ms) until each file exists, all within
# TIMEOUT seconds (decimal or 0x hex; 0 or less waits for ever); 1 when the time is up.
ewaitfile() {
	_rcinit_w=${1-}
	_rcinit_w=${_rcinit_w#[-+]}
	# strtoimax's base 0, as OpenRC reads it: 0x hex, 0 octal, else decimal.
	case $_rcinit_w in
	0[xX]) _rcinit_w= ;;
	0[xX]*) case ${_rcinit_w#0[xX]} in *[!0-9a-fA-F]*) _rcinit_w= ;; esac ;;
	0*) case $_rcinit_w in *[!0-7]*) _rcinit_w= ;; esac ;;
	*[!0-9]*) _rcinit_w= ;;
	esac
	if [ -z "$_rcinit_w" ]; then
		eerror "ewaitfile: invalid timeout"
		return 1
	fi
	if [ $# -lt 2 ]; then
		eerror "ewaitfile: not enough arguments"
		return 1
	fi
	_rcinit_w=$(($1))
	shift
	_rcinit_n=$((_rcinit_w * 50))
	for _rcinit_f in "$@"; do
		while [ ! -e "$_rcinit_f" ]; do
			[ "$_rcinit_w" -gt 0 ] && [ "$_rcinit_n" -le 0 ] && return 1
			sleep 0.02
			_rcinit_n=$((_rcinit_n - 1))
		done
	done
	return 0
}
# Power supply: a container's host decides; OpenRC's answer on a machine on mains.
on_ac_power() { return 0; }
# kill_all would signal every process of the container (kill -1): refused, said.
kill_all() {
	eerror "kill_all: refused under rcinit: in a container it would signal every process"
	return 1
}
# eval_ecolors: the colour assignments, empty unless colour is allowed and TERM knows colour.
eval_ecolors() {
	_rcinit_ec=
	case "${EINFO_COLOR-}" in [Nn][Oo] | [Ff][Aa][Ll][Ss][Ee] | [Oo][Ff][Ff] | 0) ;; *)
		case "${TERM-}" in
		'') ;;
		*color* | Eterm | ansi | con132x25 | con132x30 | con132x43 | con132x60 | con80x25 | \
			con80x28 | con80x30 | con80x43 | con80x50 | con80x60 | cons25 | console | cygwin | \
			dtterm | gnome | konsole | kterm | linux | linux-c | mlterm | putty | rxvt | \
			rxvt-cygwin | rxvt-cygwin-native | rxvt-unicode | screen | screen-bce | screen-w | \
			screen.linux | vt100 | vt220 | wsvt25 | xterm | xterm-debian) _rcinit_ec=1 ;;
		esac
		;;
	esac
	if [ -n "$_rcinit_ec" ]; then
		printf "GOOD='\033[1m\033[32m'\nWARN='\033[1m\033[33m'\nBAD='\033[1m\033[31m'\n"
		printf "HILITE='\033[1m\033[36m'\nBRACKET='\033[1m\033[34m'\nNORMAL='\033[m'\n"
	else
		printf "GOOD=''\nWARN=''\nBAD=''\nHILITE=''\nBRACKET=''\nNORMAL=''\n"
	fi
}

# L-37: `openrc --sys` (or -S) prints the system type rcinit detected (RC_SYS, nothing when
# none); changing runlevels is rcinit's own business.
openrc() {
	case "${1-}" in
	-S | --sys)
		[ -n "${RC_SYS-}" ] && printf '%s\n' "$RC_SYS"
		return 0
		;;
	esac
	eerror "openrc: rcinit runs the runlevels here; use rcinit (rcinit --help)"
	return 1
}

# L-35: OpenRC's helper programs, answered by rcinit's own (`rcinit NAME`), at evaluation too.
_rcinit_exe() { "${RCINIT_EXE:-/sbin/rcinit}" "$@"; }
mountinfo() { _rcinit_exe mountinfo "$@"; }
fstabinfo() { _rcinit_exe fstabinfo "$@"; }
is_newer_than() { _rcinit_exe is_newer_than "$@"; }
is_older_than() { _rcinit_exe is_older_than "$@"; }

# L-32: a service's state as OpenRC's tools read it, from the state directory rcinit keeps
# (RC_SVCDIR): no request to rcinit, and everything stopped while the boot evaluates.
_rcinit_state_is() {
	_rcinit_q=$1
	shift
	if [ $# -gt 0 ]; then _rcinit_s=$1; else _rcinit_s=${RC_SVCNAME-}; fi
	if [ -z "$_rcinit_s" ]; then
		eerror "service_$_rcinit_q: no service specified"
		return 1
	fi
	_rcinit_b=${_rcinit_s##*/} _rcinit_d=${RC_SVCDIR:-/run/openrc}
	case $_rcinit_q in
	wasinactive | hotplugged)
		[ -e "$_rcinit_d/$_rcinit_q/$_rcinit_b" ]
		return
		;;
	esac
	# One main state; of several links, the last of OpenRC's order counts.
	_rcinit_m=stopped
	for _rcinit_k in started stopped starting stopping inactive; do
		[ -e "$_rcinit_d/$_rcinit_k/$_rcinit_b" ] && _rcinit_m=$_rcinit_k
	done
	[ "$_rcinit_m" = "$_rcinit_q" ]
}
service_started() { _rcinit_state_is started "$@"; }
service_starting() { _rcinit_state_is starting "$@"; }
service_stopping() { _rcinit_state_is stopping "$@"; }
service_stopped() { _rcinit_state_is stopped "$@"; }
service_inactive() { _rcinit_state_is inactive "$@"; }
service_wasinactive() { _rcinit_state_is wasinactive "$@"; }
service_hotplugged() { _rcinit_state_is hotplugged "$@"; }
# Started, and a daemon of its record gone (the record's pidfile or argv names no process):
# rcinit's helper reads /proc.
service_crashed() {
	if [ $# -gt 0 ]; then _rcinit_s=$1; else _rcinit_s=${RC_SVCNAME-}; fi
	if [ -z "$_rcinit_s" ]; then
		eerror "service_crashed: no service specified"
		return 1
	fi
	_rcinit_state_is started "$_rcinit_s" || return 1
	[ -d "${RC_SVCDIR:-/run/openrc}/daemons/${_rcinit_s##*/}" ] || return 1
	_rcinit_exe service_crashed "$_rcinit_s"
}
# sscanf("%d"): `_rcinit_int VAR TEXT` sets VAR to TEXT's leading integer; 1 without one.
_rcinit_int() {
	_rcinit_t=$2
	while :; do
		case $_rcinit_t in
		[[:space:]]*) _rcinit_t=${_rcinit_t#?} ;;
		*) break ;;
		esac
	done
	_rcinit_sg=
	case $_rcinit_t in -*) _rcinit_sg=- ;; esac
	case $_rcinit_t in [-+]*) _rcinit_t=${_rcinit_t#?} ;; esac
	_rcinit_t=${_rcinit_t%%[!0-9]*}
	[ -n "$_rcinit_t" ] || return 1
	while :; do
		case $_rcinit_t in
		0?*) _rcinit_t=${_rcinit_t#0} ;;
		*) break ;;
		esac
	done
	eval "$1=\$_rcinit_sg\$_rcinit_t"
}
# service_started_daemon [SERVICE] EXEC [INDEX]: a daemon record of SERVICE (the INDEXth)
# says it started EXEC.
service_started_daemon() {
	if [ $# -gt 0 ]; then _rcinit_s=$1; else _rcinit_s=${RC_SVCNAME-}; fi
	if [ -z "$_rcinit_s" ]; then
		eerror "service_started_daemon: no service specified"
		return 1
	fi
	_rcinit_s=${RC_SVCNAME-} _rcinit_x=${1-} _rcinit_i=0
	if [ $# -gt 2 ]; then
		_rcinit_s=$1 _rcinit_x=$2
		_rcinit_int _rcinit_i "$3" || _rcinit_i=0
	elif [ $# -eq 2 ] && ! _rcinit_int _rcinit_i "$2"; then
		_rcinit_s=$1 _rcinit_x=$2
	fi
	[ $# -gt 0 ] && [ -n "$_rcinit_s" ] || return 1
	_rcinit_d=${RC_SVCDIR:-/run/openrc}/daemons/${_rcinit_s##*/}
	if [ "$_rcinit_i" -gt 0 ] 2>/dev/null; then
		set -- "$_rcinit_d/$(printf '%03d' "$_rcinit_i")"
	else
		set -- "$_rcinit_d"/*
	fi
	for _rcinit_f in "$@"; do
		[ -f "$_rcinit_f" ] || continue
		while IFS= read -r _rcinit_l || [ -n "$_rcinit_l" ]; do
			[ "$_rcinit_l" = "exec=$_rcinit_x" ] && return 0
		done <"$_rcinit_f"
	done
	return 1
}

# L-36, rc-functions.sh: the kernel command line (Gentoo's gentoo=a,b too).
get_bootparam() {
	[ -n "${1-}" ] && [ -r /proc/cmdline ] || return 1
	read -r _rcinit_cl </proc/cmdline || [ -n "$_rcinit_cl" ] || return 1
	# Split (and globbed) as OpenRC's `set -- $(cat /proc/cmdline)`.
	# shellcheck disable=SC2086
	for _rcinit_w in $_rcinit_cl; do
		[ "$_rcinit_w" = "$1" ] && return 0
		case "$_rcinit_w" in
		gentoo=*)
			(
				IFS=,
				for _rcinit_x in ${_rcinit_w##*=}; do [ "$_rcinit_x" = "$1" ] && exit 0; done
				exit 1
			) && return 0
			;;
		esac
	done
	return 1
}
get_bootparam_value() {
	_rcinit_r=
	if [ -n "${1-}" ] && [ -r /proc/cmdline ]; then
		_rcinit_sep=${3-}
		read -r _rcinit_cl </proc/cmdline || [ -n "$_rcinit_cl" ] || _rcinit_cl=
		# shellcheck disable=SC2086
		for _rcinit_w in $_rcinit_cl; do
			# shellcheck disable=SC2254 # the key is a pattern, as in OpenRC
			case "$_rcinit_w" in
			$1=*)
				_rcinit_v=${_rcinit_w##*=}
				case "${2-}" in
				all)
					[ -z "$_rcinit_sep" ] && _rcinit_sep=' '
					if [ -z "$_rcinit_r" ]; then _rcinit_r=$_rcinit_v; else _rcinit_r=$_rcinit_r$_rcinit_sep$_rcinit_v; fi
					;;
				last) _rcinit_r=$_rcinit_v ;;
				*)
					_rcinit_r=$_rcinit_v
					break
					;;
				esac
				;;
			esac
		done
	fi
	# shellcheck disable=SC2086 # unquoted, as OpenRC echoes it
	echo $_rcinit_r
}
net_fs_list="afs ceph cifs coda davfs fuse fuse.sshfs gfs glusterfs lustre
ncpfs nfs nfs4 ocfs2 shfs smbfs"
is_net_fs() {
	[ -z "${1-}" ] && return 1
	mountinfo --quiet --netdev "$1" && return 0
	mountinfo --quiet --nonetdev "$1" && return 1
	_rcinit_t=$(mountinfo --fstype "$1")
	# shellcheck disable=SC2086
	for _rcinit_x in $net_fs_list ${extra_net_fs_list-}; do
		[ "$_rcinit_x" = "$_rcinit_t" ] && return 0
	done
	return 1
}
is_union_fs() {
	[ ! -x /sbin/unionctl ] && return 1
	unionctl "$1" --list >/dev/null 2>&1
}
service_set_value() { :; }
service_get_value() { return 1; }
save_options() { :; }
get_options() { return 1; }

# L-38: openrc-run.sh's own functions that scripts call.
sourcex() {
	if [ "${1-}" = -e ]; then
		shift
		[ -e "$1" ] || return 1
	fi
	if ! . "$1"; then
		eerror "${RC_SVCNAME-}: error loading $1"
		exit 1
	fi
}
# rcinit writes the softlevel at boot; without it this is not a system rcinit booted.
verify_boot() {
	if [ ! -e "${RC_SVCDIR:-/run/openrc}/softlevel" ]; then
		eerror "${RC_SVCDIR:-/run/openrc}/softlevel is missing: neither OpenRC nor rcinit booted this system"
		exit 1
	fi
}
describe() {
	if [ -n "${description-}" ]; then
		einfo "$description"
	else
		ewarn "No description for ${RC_SVCNAME-}"
	fi
	for _rcinit_dc in ${extra_commands:-${opts-}} ${extra_started_commands-} ${extra_stopped_commands-}; do
		case $_rcinit_dc in *[!A-Za-z0-9_]*) continue ;; esac
		eval "_rcinit_x=\${description_$_rcinit_dc-}"
		if [ -n "$_rcinit_x" ]; then
			einfo "${HILITE-}$_rcinit_dc${NORMAL-}: $_rcinit_x"
		else
			ewarn "${HILITE-}$_rcinit_dc${NORMAL-}: no description"
		fi
	done
}
# The exit codes of `status` (OpenRC's): 0 started, 3 stopped, 4 stopping, 8 starting,
# 16 inactive, 32 crashed, 64 a daemon running without its supervisor.
_status() {
	if service_stopping; then
		ewarn "status: stopping"
		return 4
	elif service_starting; then
		ewarn "status: starting"
		return 8
	elif service_inactive; then
		ewarn "status: inactive"
		return 16
	elif service_crashed; then
		eerror "status: crashed"
		return 32
	elif service_started; then
		einfo "status: started"
		return 0
	fi
	einfo "status: stopped"
	return 3
}
ssd_status() { _status; }
supervise_status() {
	if service_started && ! service_stopping && ! service_starting && ! service_inactive && service_crashed; then
		# Its supervisor's records still there: the supervisor is what died.
		if [ -n "$(service_get_value child_pid)" ] && [ -n "$(service_get_value start_time)" ]; then
			eerror "status: unsupervised"
			return 64
		fi
	fi
	_status
}
default_status() {
	case "${supervisor-}" in
	supervise-daemon) supervise_status ;;
	*) ssd_status ;;
	esac
}
rc_runlevel() { printf '%s\n' "$RC_RUNLEVEL"; }
checkpath() { :; }
mark_service_started() { :; }
mark_service_stopped() { :; }
mark_service_inactive() { :; }
mark_service_starting() { :; }
mark_service_stopping() { :; }
mark_service_failed() { :; }

# shell_var without a subshell: `_rcinit_shell_var VAR text` sets VAR to text with every
# non-alphanumeric byte replaced by `_` (OpenRC's shell_var).
_rcinit_shell_var() {
	case "$2" in
	*[!a-zA-Z0-9]*) ;;
	*)
		eval "$1=\$2"
		return
		;;
	esac
	_rcinit_sv_in=$2
	_rcinit_sv_out=
	while [ -n "$_rcinit_sv_in" ]; do
		_rcinit_sv_rest=${_rcinit_sv_in#?}
		_rcinit_sv_c=${_rcinit_sv_in%"$_rcinit_sv_rest"}
		case "$_rcinit_sv_c" in
		[a-zA-Z0-9]) _rcinit_sv_out=$_rcinit_sv_out$_rcinit_sv_c ;;
		*) _rcinit_sv_out=${_rcinit_sv_out}_ ;;
		esac
		_rcinit_sv_in=$_rcinit_sv_rest
	done
	eval "$1=\$_rcinit_sv_out"
}
shell_var() {
	_rcinit_shell_var _rcinit_sv "$*"
	printf '%s\n' "$_rcinit_sv"
}

# --- the depend() verbs: record their words, as OpenRC's generator does ---
need() { [ -n "$*" ] && _rcinit_out D need "$*"; }
use() { [ -n "$*" ] && _rcinit_out D use "$*"; }
want() { [ -n "$*" ] && _rcinit_out D want "$*"; }
after() { [ -n "$*" ] && _rcinit_out D after "$*"; }
before() { [ -n "$*" ] && _rcinit_out D before "$*"; }
provide() { [ -n "$*" ] && _rcinit_out D provide "$*"; }
keyword() { [ -n "$*" ] && _rcinit_out D keyword "$*"; }
config() { [ -n "$*" ] && _rcinit_out D config "$*"; }
# 0.64: variables a started service hands to the services started after it.
reexport() { [ -n "$*" ] && _rcinit_out D reexport "$*"; }
# L-36: `need` only the services that exist (executable files of the script directories that
# are not *.sh).
need_if_exists() {
	for _rcinit_x in "$@"; do
		case "$_rcinit_x" in *.sh) continue ;; esac
		if [ -x "/usr/local/etc/init.d/$_rcinit_x" ] || [ -x "/etc/init.d/$_rcinit_x" ]; then
			need "$_rcinit_x"
		fi
	done
}

# rc_<svc>_<kind>, rc_<kind>, RC_<svc>_<KIND>, RC_<KIND>: the first non-empty one, word-split and
# globbed in the init.d directory, after depend() (E-32).
_rcinit_conf_deps() {
	unset IFS
	_rcinit_shell_var _rcinit_s "$RC_SVCNAME"
	for _rcinit_p in config/CONFIG need/NEED use/USE want/WANT after/AFTER before/BEFORE \
		provide/PROVIDE keyword/KEYWORD; do
		_rcinit_k=${_rcinit_p%/*}
		_rcinit_K=${_rcinit_p#*/}
		# One eval: the first non-empty of the four, through nested ${x:-...}.
		eval "_rcinit_d=\${rc_${_rcinit_s}_${_rcinit_k}:-\${rc_${_rcinit_k}:-\${RC_${_rcinit_s}_${_rcinit_K}:-\${RC_${_rcinit_K}-}}}}"
		# shellcheck disable=SC2086 # splitting and globbing are the point
		$_rcinit_k $_rcinit_d
	done
}

# cd for the shim's own moves, leaving OLDPWD as it was: openrc-run changes directory in C, so
# a script's environment (and its daemon's) keeps the OLDPWD it came with, not /proc/PID.
_rcinit_cd() {
	_rcinit_op=${OLDPWD-} _rcinit_ops=${OLDPWD+x}
	cd "$@" || return
	if [ -n "$_rcinit_ops" ]; then OLDPWD=$_rcinit_op; else unset OLDPWD; fi
}

# The subshell's pid (dash has no BASHPID), so rcinit can kill a hung one alone. `read` of
# /proc/self/stat goes byte by byte; resolving the /proc/self link costs one chdir.
_rcinit_begin() {
	_rcinit_pid=0
	_rcinit_cd -P /proc/self 2>/dev/null && _rcinit_pid=${PWD##*/}
	printf '\036%s %s\036' "$1" "$2" >&2
	_rcinit_out B "$1" "$2" "$_rcinit_pid"
}

# Dependency pass (E-35): in the init.d directory; conf.d/<prefix>, conf.d/<name>, then rc.conf and
# rc.conf.d (rc.conf wins here); never the .<runlevel> variants; RC_SERVICE is the bare name.
_rcinit_dep() {
	(
		exec 1>&2
		_rcinit_dir=$1
		_rcinit_name=$2
		_rcinit_begin dep "$_rcinit_name"
		cd "$_rcinit_dir" || exit 1
		RC_SVCNAME=$_rcinit_name
		SVCNAME=$_rcinit_name
		RC_SERVICE=$_rcinit_name
		export RC_SVCNAME SVCNAME RC_SERVICE
		_rcinit_c=${_rcinit_name%%.*}
		if [ -n "$_rcinit_c" ] && [ "$_rcinit_c" != "$_rcinit_name" ] &&
			[ -e "$_rcinit_dir/../conf.d/$_rcinit_c" ]; then
			. "$_rcinit_dir/../conf.d/$_rcinit_c"
		fi
		[ -e "$_rcinit_dir/../conf.d/$_rcinit_name" ] && . "$_rcinit_dir/../conf.d/$_rcinit_name"
		[ -e /etc/rc.conf ] && _rcinit_dot /etc/rc.conf
		if [ -d /etc/rc.conf.d ]; then
			for _rcinit_f in /etc/rc.conf.d/*.conf; do
				[ -e "$_rcinit_f" ] && . "$_rcinit_f"
			done
		fi
		depend() { :; }
		if . "$_rcinit_dir/$_rcinit_name"; then
			_rcinit_out S 0
			depend
			_rcinit_conf_deps
			_rcinit_out E dep 0
		else
			_rcinit_out S "$?" E dep 1
		fi
	)
}

# rc.conf, parsed once (below) when it can be: a call instead of a parse per pass and script.
_rcinit_dot() {
	if [ "$1" = /etc/rc.conf ] && [ -n "${_rcinit_rc-}" ]; then
		_rcinit_rcconf
	else
		. "$1"
	fi
}

_rcinit_source_or_fail() {
	if [ -e "$1" ]; then
		_rcinit_dot "$1" || {
			_rcinit_st=$?
			_rcinit_out S "$_rcinit_st" V _rcinit_failed_file "$1" E run 1
			exit "${_rcinit_fail:-1}"
		}
	fi
}

# Sources what openrc-run sources before a command (E-10): rc.conf, rc.conf.d, conf.d (a
# .<runlevel> file replaces the plain one), what supervise-daemon.sh adds, then the script. A file
# that fails to load ends the (sub)shell with records saying which.
_rcinit_load() {
	_rcinit_dir=$1
	_rcinit_name=$2
	_rcinit_cd / || exit 1
	RC_SVCNAME=$_rcinit_name
	SVCNAME=$_rcinit_name
	RC_SERVICE=$3
	RC_CMD=$4
	export RC_SVCNAME SVCNAME RC_SERVICE RC_CMD
	_rcinit_source_or_fail /etc/rc.conf
	if [ -d /etc/rc.conf.d ]; then
		for _rcinit_f in /etc/rc.conf.d/*.conf; do
			_rcinit_source_or_fail "$_rcinit_f"
		done
	fi
	_rcinit_confd=${RC_SERVICE%/*}/../conf.d
	_rcinit_c=${_rcinit_name%%.*}
	if [ -n "$_rcinit_c" ] && [ "$_rcinit_c" != "$_rcinit_name" ]; then
		if [ -e "$_rcinit_confd/$_rcinit_c.$RC_RUNLEVEL" ]; then
			_rcinit_source_or_fail "$_rcinit_confd/$_rcinit_c.$RC_RUNLEVEL"
		else
			_rcinit_source_or_fail "$_rcinit_confd/$_rcinit_c"
		fi
	fi
	if [ -e "$_rcinit_confd/$_rcinit_name.$RC_RUNLEVEL" ]; then
		_rcinit_source_or_fail "$_rcinit_confd/$_rcinit_name.$RC_RUNLEVEL"
	else
		_rcinit_source_or_fail "$_rcinit_confd/$_rcinit_name"
	fi
	# s6.sh (0.63) and supervise-daemon.sh, sourced after conf.d and before the script.
	extra_commands="healthcheck unhealthy restart reload ${extra_commands-}"
	if . "$_rcinit_dir/$_rcinit_name"; then
		_rcinit_out S 0
	else
		_rcinit_out S "$?" E run 1
		exit "${_rcinit_fail:-1}"
	fi
}

_rcinit_vars() {
	# What follows is the whole set: a variable start_pre unset must not linger. Written out, not
	# looped with eval: a parse per name per script added up.
	{
		printf 'V\0%s\0%s\0' _rcinit_reset 1
		[ -n "${command+x}" ] && printf 'V\0command\0%s\0' "$command"
		[ -n "${command_args+x}" ] && printf 'V\0command_args\0%s\0' "$command_args"
		[ -n "${command_args_foreground+x}" ] && printf 'V\0command_args_foreground\0%s\0' "$command_args_foreground"
		[ -n "${command_args_background+x}" ] && printf 'V\0command_args_background\0%s\0' "$command_args_background"
		[ -n "${command_background+x}" ] && printf 'V\0command_background\0%s\0' "$command_background"
		[ -n "${command_user+x}" ] && printf 'V\0command_user\0%s\0' "$command_user"
		[ -n "${command_progress+x}" ] && printf 'V\0command_progress\0%s\0' "$command_progress"
		[ -n "${pidfile+x}" ] && printf 'V\0pidfile\0%s\0' "$pidfile"
		[ -n "${procname+x}" ] && printf 'V\0procname\0%s\0' "$procname"
		[ -n "${name+x}" ] && printf 'V\0name\0%s\0' "$name"
		[ -n "${description+x}" ] && printf 'V\0description\0%s\0' "$description"
		[ -n "${directory+x}" ] && printf 'V\0directory\0%s\0' "$directory"
		[ -n "${chroot+x}" ] && printf 'V\0chroot\0%s\0' "$chroot"
		[ -n "${umask+x}" ] && printf 'V\0umask\0%s\0' "$umask"
		[ -n "${input_file+x}" ] && printf 'V\0input_file\0%s\0' "$input_file"
		[ -n "${output_log+x}" ] && printf 'V\0output_log\0%s\0' "$output_log"
		[ -n "${error_log+x}" ] && printf 'V\0error_log\0%s\0' "$error_log"
		[ -n "${output_logger+x}" ] && printf 'V\0output_logger\0%s\0' "$output_logger"
		[ -n "${error_logger+x}" ] && printf 'V\0error_logger\0%s\0' "$error_logger"
		[ -n "${capabilities+x}" ] && printf 'V\0capabilities\0%s\0' "$capabilities"
		[ -n "${secbits+x}" ] && printf 'V\0secbits\0%s\0' "$secbits"
		[ -n "${no_new_privs+x}" ] && printf 'V\0no_new_privs\0%s\0' "$no_new_privs"
		[ -n "${notify+x}" ] && printf 'V\0notify\0%s\0' "$notify"
		[ -n "${ready+x}" ] && printf 'V\0ready\0%s\0' "$ready"
		[ -n "${retry+x}" ] && printf 'V\0retry\0%s\0' "$retry"
		[ -n "${stopsig+x}" ] && printf 'V\0stopsig\0%s\0' "$stopsig"
		[ -n "${stopgroup+x}" ] && printf 'V\0stopgroup\0%s\0' "$stopgroup"
		[ -n "${respawn_delay+x}" ] && printf 'V\0respawn_delay\0%s\0' "$respawn_delay"
		[ -n "${respawn_max+x}" ] && printf 'V\0respawn_max\0%s\0' "$respawn_max"
		[ -n "${respawn_period+x}" ] && printf 'V\0respawn_period\0%s\0' "$respawn_period"
		[ -n "${healthcheck_delay+x}" ] && printf 'V\0healthcheck_delay\0%s\0' "$healthcheck_delay"
		[ -n "${healthcheck_timer+x}" ] && printf 'V\0healthcheck_timer\0%s\0' "$healthcheck_timer"
		[ -n "${start_stop_daemon_args+x}" ] && printf 'V\0start_stop_daemon_args\0%s\0' "$start_stop_daemon_args"
		[ -n "${supervise_daemon_args+x}" ] && printf 'V\0supervise_daemon_args\0%s\0' "$supervise_daemon_args"
		[ -n "${start_inactive+x}" ] && printf 'V\0start_inactive\0%s\0' "$start_inactive"
		[ -n "${extra_commands+x}" ] && printf 'V\0extra_commands\0%s\0' "$extra_commands"
		[ -n "${extra_started_commands+x}" ] && printf 'V\0extra_started_commands\0%s\0' "$extra_started_commands"
		[ -n "${extra_stopped_commands+x}" ] && printf 'V\0extra_stopped_commands\0%s\0' "$extra_stopped_commands"
		[ -n "${required_dirs+x}" ] && printf 'V\0required_dirs\0%s\0' "$required_dirs"
		[ -n "${required_files+x}" ] && printf 'V\0required_files\0%s\0' "$required_files"
		[ -n "${in_background_fake+x}" ] && printf 'V\0in_background_fake\0%s\0' "$in_background_fake"
		[ -n "${supervisor+x}" ] && printf 'V\0supervisor\0%s\0' "$supervisor"
		[ -n "${rc_ulimit+x}" ] && printf 'V\0rc_ulimit\0%s\0' "$rc_ulimit"
		[ -n "${RC_ULIMIT+x}" ] && printf 'V\0RC_ULIMIT\0%s\0' "$RC_ULIMIT"
		[ -n "${rcinit_critical+x}" ] && printf 'V\0rcinit_critical\0%s\0' "$rcinit_critical"
		[ -n "${rcinit_start_timeout+x}" ] && printf 'V\0rcinit_start_timeout\0%s\0' "$rcinit_start_timeout"
		[ -n "${opts+x}" ] && printf 'V\0opts\0%s\0' "$opts"
		:
	} >&9
}

# The daemon's argv as supervise-daemon.sh / start-stop-daemon.sh build it: the same unquoted
# expansion, then eval's second parse.
_rcinit_argv() {
	if [ "${supervisor-}" = supervise-daemon ]; then
		# shellcheck disable=SC2086
		eval set -- ${command-} ${command_args-} ${command_args_foreground-}
	else
		# shellcheck disable=SC2086
		eval set -- ${command-} ${command_args-} ${command_args_background-}
	fi
	_rcinit_out A "$#" "$@"
}

# Run-time pass: report the variables and functions the later stages read, and the argv as
# openrc-run would build it now.
_rcinit_report() {
	_rcinit_vars
	# One redirection for the whole loop: a dup and a close per function add up. Only
	# functions matter, and `type` looks for any other name in every PATH directory: PATH is
	# one directory meanwhile (then put back exactly, for argv and export -p).
	_rcinit_p=${PATH-} _rcinit_pset=${PATH+x}
	PATH=/
	for _rcinit_fn in depend start stop status start_pre start_post stop_pre stop_post \
		healthcheck unhealthy reload ${extra_commands-} ${extra_started_commands-} \
		${extra_stopped_commands-}; do
		printf 'T\0%s\0' "$_rcinit_fn"
		type "$_rcinit_fn"
		printf '\0'
	done >&9 2>&9
	if [ -n "$_rcinit_pset" ]; then PATH=$_rcinit_p; else unset PATH; fi
	_rcinit_argv
	# What a daemon started now would inherit (no subshell: export -p straight to fd 9).
	printf 'X\0' >&9
	export -p >&9
	printf '\0' >&9
}

_rcinit_run() {
	(
		exec 1>&2
		_rcinit_begin run "$2"
		_rcinit_load "$1" "$2" "$3" start
		_rcinit_report
		_rcinit_out E run 0
	)
}

# Both passes from one load, for a script whose two loading orders rcinit found cannot differ
# (no conf.d file for it; it reads neither RC_SERVICE, RC_CMD nor the working directory): one
# subshell instead of two, in the run-time order. The run-time pass is reported first, so
# nothing depend() does can change it. A load that fails exits 213: the loop then runs the
# dependency pass on its own, so the records are exactly those of two passes.
_rcinit_one() {
	(
		exec 1>&2
		_rcinit_begin run "$2"
		_rcinit_fail=213
		_rcinit_load "$1" "$2" "$3" start
		_rcinit_report
		_rcinit_out E run 0
		printf '\036%s %s\036' dep "$2" >&2
		_rcinit_out B dep "$2" "$_rcinit_pid" S 0
		cd "$1" || exit 1
		RC_SERVICE=$2
		# Called only when the script defines it, as the dependency pass's default does.
		_rcinit_p=${PATH-} _rcinit_pset=${PATH+x}
		PATH=/
		_rcinit_hasdep=
		command -v depend >/dev/null 2>&1 && _rcinit_hasdep=1
		if [ -n "$_rcinit_pset" ]; then PATH=$_rcinit_p; else unset PATH; fi
		[ -n "$_rcinit_hasdep" ] && depend
		_rcinit_conf_deps
		_rcinit_out E dep 0
	)
}

# --- lifecycle mode: `sh -c SHIM rcinit-cmd cmd RUNLEVEL DIR NAME PATH COMMAND` ---
# Runs one command of the script as openrc-run does (L-06, L-09, L-15), with fd 8 carrying
# rcinit's answers. rcinit itself is the supervisor: the default start reports the daemon's
# settings and asks rcinit to start it; the default stop asks rcinit to stop it.
_rcinit_ask() {
	_rcinit_out Q "$1"
	read -r _rcinit_answer <&8 || return 1
	_rcinit_status "$_rcinit_answer"
}
default_start() {
	_rcinit_vars
	_rcinit_argv
	_rcinit_out X "$(export -p)"
	_rcinit_ask start
}
default_stop() { _rcinit_ask stop; }
# 0.64's default reload: nothing to reload by for start-stop-daemon; with a supervisor that has
# no reload of its own, an error.
default_reload() {
	case "${supervisor-}" in
	'') ;;
	*)
		eerror "$RC_SVCNAME: undefined function 'reload'"
		exit 1
		;;
	esac
}
supervise_start() { default_start; }
supervise_stop() { default_stop; }
ssd_start() { default_start; }
ssd_stop() { default_stop; }
_rcinit_has() { case " $2 " in *" $1 "*) return 0 ;; esac; return 1; }
_rcinit_defined() { case "$(type "$1" 2>/dev/null)" in *function*) return 0 ;; esac; return 1; }
# A `*_pre`/`*_post` hook runs only when defined.
_rcinit_hook() { if _rcinit_defined "$1"; then "$1"; fi; }
# L-34, for commands: rcinit's own checkpath, which never follows a link a service user could
# have put in the way (SECURITY.md). The evaluation's checkpath does nothing.
_rcinit_checkpath() { "${RCINIT_EXE:-/sbin/rcinit}" checkpath "$@"; }

# L-33: the service's options, where OpenRC keeps them.
_rcinit_options() { printf '%s' "${RC_SVCDIR:-/run/openrc}/options/$RC_SVCNAME"; }

_rcinit_cmd() {
	if [ -n "${RCINIT_HELPERS-}" ]; then
		# shellcheck disable=SC2139 # expanded now, on purpose
		alias start-stop-daemon="$RCINIT_HELPERS/start-stop-daemon" supervise-daemon="$RCINIT_HELPERS/supervise-daemon"
	fi
	checkpath() { _rcinit_checkpath "$@"; }
	service_set_value() {
		_rcinit_o=$(_rcinit_options)
		mkdir -p "$_rcinit_o" || return 1
		if [ $# -ge 2 ]; then printf '%s' "$2" >"$_rcinit_o/$1"; else rm -f "$_rcinit_o/$1"; fi
	}
	service_get_value() {
		_rcinit_o=$(_rcinit_options)
		[ -e "$_rcinit_o/$1" ] && cat "$_rcinit_o/$1"
	}
	save_options() { service_set_value "$@"; }
	get_options() { service_get_value "$@"; }
	# L-20, L-21: the script marks its own state; rcinit applies it when the command ends.
	# Other services' states are rcinit's own to keep.
	_rcinit_mark() {
		if [ $# -gt 1 ]; then _rcinit_ms=$2; else _rcinit_ms=${RC_SVCNAME-}; fi
		[ "$1" = crashed ] && return 1
		if [ "${_rcinit_ms##*/}" != "${RC_SVCNAME-}" ]; then
			ewarn "mark_service_$1: $_rcinit_ms is not this service; rcinit keeps the state of the others"
			return 0
		fi
		_rcinit_out M "$1"
	}
	for _rcinit_k in started stopped starting stopping inactive wasinactive hotplugged failed crashed; do
		eval "mark_service_$_rcinit_k() { _rcinit_mark $_rcinit_k \"\$@\"; }"
	done
	_rcinit_load "$1" "$2" "$3" "$4"
	_rcinit_out E run 0
	if [ "$4" = start ]; then
		_rcinit_vars
		# Whether stopping needs this script at all.
		for _rcinit_fn in stop stop_pre stop_post; do
			if _rcinit_defined "$_rcinit_fn"; then _rcinit_out T "$_rcinit_fn" function; fi
		done
	fi
	# openrc-run.sh's templates, for what the script does not define itself.
	if ! _rcinit_defined start; then start() { default_start; }; fi
	if ! _rcinit_defined stop; then stop() { default_stop; }; fi
	if ! _rcinit_defined healthcheck; then healthcheck() { return 0; }; fi
	if ! _rcinit_defined unhealthy; then unhealthy() { return 0; }; fi
	if ! _rcinit_defined reload; then reload() { default_reload; }; fi
	_rcinit_verb=$4
	[ "${rc_verbose-}" = yes ] && EINFO_VERBOSE=yes && export EINFO_VERBOSE
	# E-10 step 12: pairs of ulimit option and value.
	# shellcheck disable=SC2086
	set -- ${rc_ulimit:-${RC_ULIMIT-}}
	while [ $# -ge 2 ]; do
		ulimit "$1" "$2" || eerror "${RC_SVCNAME}: ulimit $1 $2 failed"
		shift 2
	done
	for _rcinit_d in ${required_dirs-}; do
		eval "_rcinit_d=$_rcinit_d"
		[ -d "$_rcinit_d" ] || { eerror "${RC_SVCNAME}: \`$_rcinit_d' is not a directory"; exit 1; }
	done
	for _rcinit_f in ${required_files-}; do
		eval "_rcinit_f=$_rcinit_f"
		[ -r "$_rcinit_f" ] || { eerror "${RC_SVCNAME}: \`$_rcinit_f' is not readable"; exit 1; }
	done
	case "$_rcinit_verb" in
	start | stop) ;;
	*)
		if ! _rcinit_has "$_rcinit_verb" "${extra_commands:-${opts-}} ${extra_started_commands-} ${extra_stopped_commands-}"; then
			eerror "${RC_SVCNAME}: unknown command $_rcinit_verb (not in extra_commands)"
			exit 1
		fi
		if ! _rcinit_defined "$_rcinit_verb"; then
			eerror "${RC_SVCNAME}: function \`$_rcinit_verb' defined but does not exist"
			exit 1
		fi
		;;
	esac
	_rcinit_hook "${_rcinit_verb}_pre" || exit
	"$_rcinit_verb" || exit
	_rcinit_hook "${_rcinit_verb}_post" || exit
	# 0.64's reexport: what the started service hands on, from its exported variables.
	if [ "$_rcinit_verb" = start ] && [ -n "${RC_REEXPORT-}" ]; then
		printf 'R\0' >&9
		export -p >&9
		printf '\0' >&9
	fi
	exit 0
}

_rcinit_passes=$1
RC_RUNLEVEL=$2
export RC_RUNLEVEL
shift 2
if [ "$_rcinit_passes" = cmd ]; then
	_rcinit_cmd "$@"
fi
# Each pass of each script sources rc.conf, and dash parses it anew each time (most of it
# comments). Made a function body once here, it is parsed once. `return $?` keeps the status a
# `.` would give; a file that does not parse so is left to `.` (and its error to the pass).
# RCCONF is the file's text after `=` as rcinit read it, `-` to read it here, empty for none.
_rcinit_t=
case $1 in
=*) _rcinit_t=${1#=} _rcinit_rc=1 ;;
-) [ -r /etc/rc.conf ] && _rcinit_t=$(cat /etc/rc.conf && echo .) && _rcinit_t=${_rcinit_t%.} _rcinit_rc=1 ;;
esac
shift
if [ -n "${_rcinit_rc-}" ] && (eval "_rcinit_rcconf() {
$_rcinit_t
return \$?
}") >/dev/null 2>&1; then
	eval "_rcinit_rcconf() {
$_rcinit_t
return \$?
}"
else
	_rcinit_rc=
fi
unset _rcinit_t
while [ $# -ge 3 ]; do
	case $_rcinit_passes in
	run) _rcinit_run "$1" "$2" "$3" ;;
	mixed)
		# Four words a script: the fourth says `one` (both passes in one subshell) or `dep`.
		if [ "${4-}" = one ]; then
			_rcinit_one "$1" "$2" "$3"
			[ $? -eq 213 ] && _rcinit_dep "$1" "$2"
		else
			_rcinit_dep "$1" "$2"
		fi
		shift
		;;
	*)
		_rcinit_dep "$1" "$2"
		# 137: rcinit killed a hung dependency pass; loading the script again would hang again.
		[ $? -ne 137 ] && [ "$_rcinit_passes" = both ] && _rcinit_run "$1" "$2" "$3"
		;;
	esac
	shift 3
done
_rcinit_out Z
