# bash completion for vmgmtctl                                 -*- shell-script -*-
#
# Everything comes from vmgmtctl itself at completion time, so a command or
# flag added to its command table completes without touching this file:
# the commands and global options from `vmgmtctl --help`, a command's
# arguments and options from `vmgmtctl help COMMAND` (its usage line names
# the arguments: DOMAIN, NETWORK, POOL, VOL, SNAPSHOT, DISK, OS, FILE, DEST, DIR,
# COMMAND; an option's value is named after it, or listed as a|b), and live
# names from the bus: `list --all --name`, `net-list --all`, `pool-list
# --all`, `vol-list POOL`, `snapshot-list DOMAIN --name`, `osinfo-list`, `dumpxml DOMAIN
# --xpath` of its disk targets. The connection options on the line (--user,
# -H, -M, -c) are used for those look-ups too; with no vmgmtd they give
# nothing, quietly. Needs nothing of the bash-completion package.

# vmgmtctl as typed when that is a path (./build/cli/vmgmtctl), else from PATH
_vmgmtctl_exe() {
    local w=${COMP_WORDS[0]}
    if [[ $w == */* && -x $w ]]; then
        printf '%s\n' "$w"
    else
        printf '%s\n' vmgmtctl
    fi
}

# vmgmtctl with the connection options of the line, no pager, no questions:
# in a session of its own (setsid), so that the ssh of -H or qemu+ssh:// has
# no terminal to ask for a password or about a host key on (it fails instead)
_vmgmtctl_call() {
    local -a detach=()
    type -P setsid >/dev/null && detach=(setsid -w)
    "${detach[@]}" "$(_vmgmtctl_exe)" "${_vmgmtctl_conn[@]}" --no-pager --no-ask-password "$@" 2>/dev/null </dev/null
}

# The first column of a table's rows (below its line of dashes).
_vmgmtctl_column1() {
    local line rows=0
    while IFS= read -r line; do
        if [[ $line == -----* ]]; then
            rows=1
        elif ((rows)) && [[ -n ${line// /} ]]; then
            line=${line#"${line%%[! ]*}"}
            printf '%s\n' "${line%% *}"
        fi
    done
}

_vmgmtctl_domains() { _vmgmtctl_call list --all --name; }
_vmgmtctl_networks() { _vmgmtctl_call net-list --all | _vmgmtctl_column1; }
_vmgmtctl_pools() { _vmgmtctl_call pool-list --all | _vmgmtctl_column1; }

# Volumes of pool $1, or of every pool.
_vmgmtctl_volumes() {
    local p
    if [[ -n $1 ]]; then
        _vmgmtctl_call vol-list "$1" | _vmgmtctl_column1
    else
        for p in $(_vmgmtctl_pools); do
            _vmgmtctl_call vol-list "$p" | _vmgmtctl_column1
        done
    fi
}

# The disks (target names) of domain $1, from its definition.
_vmgmtctl_disks() {
    [[ -n $1 ]] || return 0
    _vmgmtctl_call dumpxml "$1" --xpath '/domain/devices/disk/target/@dev'
}

# Snapshots of domain $1, if this vmgmtctl has snapshot-list.
_vmgmtctl_snapshots() {
    [[ -n $1 ]] || return 0
    [[ " $_vmgmtctl_verbs " == *" snapshot-list "* ]] || return 0
    _vmgmtctl_call snapshot-list "$1" --name
}

# The words of an argument or option value named $1 (DOMAIN, raw|qcow2, …;
# FILE, DEST, DIR and the like are completed as file names by the caller).
_vmgmtctl_values() {
    local meta=$1
    case $meta in
        DOMAIN) _vmgmtctl_domains ;;
        DISK) _vmgmtctl_disks "$_vmgmtctl_domain" ;;
        NETWORK) _vmgmtctl_networks ;;
        POOL | NEWPOOL) _vmgmtctl_pools ;;
        VOL) _vmgmtctl_volumes "$_vmgmtctl_pool" ;;
        SNAPSHOT | SNAP) _vmgmtctl_snapshots "$_vmgmtctl_domain" ;;
        OS) _vmgmtctl_call osinfo-list | _vmgmtctl_column1 ;;   # short ids of the OS database
        # help's COMMAND; net-update's COMMAND is its own (add-first, …)
        COMMAND) [[ $_vmgmtctl_verb == help ]] && printf '%s\n' $_vmgmtctl_verbs ;;
        *'|'*)
            # literal choices as in --format raw|qcow2 (lower case words only)
            [[ $meta == *[A-Z]* ]] || printf '%s\n' ${meta//|/ }
            ;;
        [a-z]*) printf '%s\n' "$meta" ;;   # a single literal, as in --mode acpi
    esac
}

# Reads `vmgmtctl --help`: _vmgmtctl_verbs, _vmgmtctl_global (options),
# _vmgmtctl_global_arg (those that take a separate value), _vmgmtctl_json
# (the modes its --json line lists: "MODE  Output as JSON: short, pretty or
# off") and _vmgmtctl_uris (the URIs its --connect lines name, up to a
# [USER@]HOST or ?PARAMS part).
_vmgmtctl_read_help() {
    local line section= w desc
    _vmgmtctl_verbs= _vmgmtctl_global= _vmgmtctl_global_arg= _vmgmtctl_json= _vmgmtctl_uris=
    while IFS= read -r line; do
        case $line in
            Commands:) section=commands; continue ;;
            Options:) section=options; continue ;;
            '') [[ $section == commands ]] && section= ; continue ;;
        esac
        if [[ $section == commands && $line =~ ^\ \ ([a-z][a-z0-9-]*) ]]; then
            _vmgmtctl_verbs+=" ${BASH_REMATCH[1]}"
        elif [[ $section == options ]]; then
            if [[ $line == *--json=* && $line == *:* ]]; then
                desc=${line#*: }
                desc=${desc//,/ }
                _vmgmtctl_json=${desc// or / }
            fi
            for w in $line; do
                [[ $w == [a-z]*://* ]] && _vmgmtctl_uris+=" ${w%%[[(,?]*}"
            done
            for w in $line; do
                [[ $w == -* ]] || break
                # --json=MODE takes its value only after '=' (vmgmtctl --json is --json=short)
                if [[ $w == --*=* && $w != --json=* ]]; then
                    _vmgmtctl_global_arg+=" ${w%%=*}"
                fi
                _vmgmtctl_global+=" ${w%%=*}"
            done
            # a short option takes a value when its long one does
            if [[ $line =~ ^\ \ (-[A-Za-z])\ (--[a-z-]+)= && $line != *--json=* ]]; then
                _vmgmtctl_global_arg+=" ${BASH_REMATCH[1]}"
            fi
        fi
    done < <("$(_vmgmtctl_exe)" --help 2>/dev/null </dev/null)
}

# Reads `vmgmtctl help VERB`: _vmgmtctl_vopts (its options), _vmgmtctl_vopts_arg
# (those that take a value), _vmgmtctl_args (the argument names of its usage,
# in order; one ending in ... repeats), _vmgmtctl_optmeta (OPTION=VALUE-NAME
# pairs of the usage).
_vmgmtctl_read_verb() {
    local line first=1 usage w prev=
    _vmgmtctl_vopts= _vmgmtctl_vopts_arg= _vmgmtctl_args=() _vmgmtctl_optmeta=()
    while IFS= read -r line; do
        if ((first)); then
            usage=${line#"vmgmtctl [OPTIONS...] $1"}
            first=0
            continue
        fi
        if [[ $line =~ ^\ \ (--[a-z0-9-]+)(\ VALUE)?$ ]]; then
            _vmgmtctl_vopts+=" ${BASH_REMATCH[1]}"
            [[ -n ${BASH_REMATCH[2]} ]] && _vmgmtctl_vopts_arg+=" ${BASH_REMATCH[1]}"
        fi
    done < <("$(_vmgmtctl_exe)" help "$1" 2>/dev/null </dev/null)
    # the usage: "DOMAIN [FILE] [--screen N]", "VOL [--pool POOL]", "DOMAIN SNAPSHOT|--current"
    for w in $usage; do
        w=${w//[\[\]]/}
        if [[ $prev == --* && $w != -* ]]; then
            _vmgmtctl_optmeta+=("$prev=$w")
            prev=
            continue
        fi
        prev=
        case $w in
            --*) prev=${w##*|} ;;
            '' | -*) ;;
            *)
                [[ ${w%%|*} == [A-Z]* ]] && _vmgmtctl_args+=("${w%%|*}")
                # DOMAIN|--domain DOMAIN: the second DOMAIN is the option's
                [[ $w == *'|--'* ]] && prev=${w##*|}
                ;;
        esac
    done
}

# The value name the usage gives option $1 (--pool POOL), else the option's name.
_vmgmtctl_option_meta() {
    local pair name=$1
    for pair in "${_vmgmtctl_optmeta[@]}"; do
        if [[ ${pair%%=*} == "$name" ]]; then
            printf '%s\n' "${pair#*=}"
            return
        fi
    done
    name=${name#--}
    printf '%s\n' "${name^^}"
}

# COMP_WORDS with the words readline split at ':' and '@' joined again
# (qemu:///system and root@host:22 are one word each, as for vmgmtctl):
# _vmgmtctl_words and _vmgmtctl_cword. $1: those of ':' and '@' that are in
# COMP_WORDBREAKS.
_vmgmtctl_join_words() {
    local i w before glue=0 line=${COMP_LINE:0:COMP_POINT} breaks=$1
    _vmgmtctl_words=() _vmgmtctl_cword=0
    for ((i = 0; i < ${#COMP_WORDS[@]} && i <= COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        # what stands on the line between the last word and this one
        if [[ -n $w ]]; then
            before=${line%%"$w"*}
            line=${line#*"$w"}
        else
            before=$line line=
        fi
        if ((i > 0)) && [[ -n $breaks && -z $before ]] && { ((glue)) || [[ $w == ["$breaks"]* ]]; }; then
            _vmgmtctl_words[-1]+=$w
        else
            _vmgmtctl_words+=("$w")
        fi
        [[ -n $breaks && ${_vmgmtctl_words[-1]} == *["$breaks"] ]] && glue=1 || glue=0
        ((i == COMP_CWORD)) && _vmgmtctl_cword=$((${#_vmgmtctl_words[@]} - 1))
    done
}

# readline puts a completion in place of what follows the last ':' or '@' of
# the word (they are among its word breaks): the joined word's part up to it goes
_vmgmtctl_trim_colons() {
    [[ -n $colon_prefix ]] || return 0
    local i
    for i in "${!COMPREPLY[@]}"; do
        COMPREPLY[i]=${COMPREPLY[i]#"$colon_prefix"}
    done
}

_vmgmtctl() {
    local cur prev= i w verb= opt= positional=() dashdash=0 words
    local _vmgmtctl_verbs _vmgmtctl_global _vmgmtctl_global_arg _vmgmtctl_vopts _vmgmtctl_vopts_arg
    local _vmgmtctl_json _vmgmtctl_uris _vmgmtctl_verb= _vmgmtctl_cword
    local -a _vmgmtctl_args _vmgmtctl_optmeta _vmgmtctl_conn=() _vmgmtctl_words
    local _vmgmtctl_pool= _vmgmtctl_domain= meta=
    # no pathname expansion of the words split here ([FILE], [COMMAND] of a
    # usage would match one-letter files of the working directory)
    local -
    set -f
    COMPREPLY=()

    local breaks=${COMP_WORDBREAKS//[^:@]/} colon_prefix=
    _vmgmtctl_join_words "$breaks"
    cur=${_vmgmtctl_words[_vmgmtctl_cword]}
    # readline replaces only what follows the last ':' or '@' of the word
    [[ -n $breaks && $cur == *["$breaks"]* ]] && colon_prefix=${cur%"${cur##*["$breaks"]}"}

    _vmgmtctl_read_help
    # walk the words before the cursor: the command, its arguments, option values
    for ((i = 1; i < _vmgmtctl_cword; i++)); do
        w=${_vmgmtctl_words[i]}
        if [[ -n $opt ]]; then
            # the value of $opt ("--pool x", or "--pool = x" as bash splits --pool=x)
            [[ $w == = ]] && continue
            case $opt in
                --pool) _vmgmtctl_pool=$w ;;
                --domain) _vmgmtctl_domain=$w ;;
                -H | --host | -M | --machine | -c | --connect) _vmgmtctl_conn+=("$opt" "$w") ;;
            esac
            opt=
            continue
        fi
        if ((dashdash)) || [[ $w != -* || $w == - ]]; then
            if [[ -z $verb ]]; then
                verb=$w _vmgmtctl_verb=$w
                _vmgmtctl_read_verb "$verb"
            else
                positional+=("$w")
            fi
            continue
        fi
        case $w in
            --) dashdash=1 ;;
            --user | --system) _vmgmtctl_conn+=("$w") ;;
            --*=*)
                case ${w%%=*} in
                    --pool) _vmgmtctl_pool=${w#*=} ;;
                    --domain) _vmgmtctl_domain=${w#*=} ;;
                    --host | --machine | --connect) _vmgmtctl_conn+=("$w") ;;
                esac
                ;;
            -[HMc]?*) _vmgmtctl_conn+=("$w") ;;
            *)
                if [[ " $_vmgmtctl_global_arg $_vmgmtctl_vopts_arg " == *" $w "* ]]; then
                    opt=$w
                elif [[ ${_vmgmtctl_words[i + 1]} == = && $w == --* ]]; then
                    opt=$w
                fi
                ;;
        esac
    done
    # the pool of a volume and the domain of a snapshot may also be arguments
    for ((i = 0; i < ${#positional[@]} && i < ${#_vmgmtctl_args[@]}; i++)); do
        case ${_vmgmtctl_args[i]} in
            POOL) [[ -z $_vmgmtctl_pool ]] && _vmgmtctl_pool=${positional[i]} ;;
            DOMAIN) [[ -z $_vmgmtctl_domain ]] && _vmgmtctl_domain=${positional[i]} ;;
        esac
    done

    # "--opt=" was split by bash: cur is "=" or the value after it
    if [[ $cur == = && ${_vmgmtctl_words[_vmgmtctl_cword - 1]} == --* ]]; then
        opt=${_vmgmtctl_words[_vmgmtctl_cword - 1]}
        cur=
    elif [[ ${_vmgmtctl_words[_vmgmtctl_cword - 1]} == = && ${_vmgmtctl_words[_vmgmtctl_cword - 2]} == --* ]]; then
        opt=${_vmgmtctl_words[_vmgmtctl_cword - 2]}
    fi

    if [[ -n $opt ]]; then
        case $opt in
            --json) words=$_vmgmtctl_json ;;
            -c | --connect) words=$_vmgmtctl_uris ;;
            -H | --host | -M | --machine) return 0 ;;
            *) meta=$(_vmgmtctl_option_meta "$opt") ;;
        esac
    elif [[ $cur == --*=* && $dashdash == 0 ]]; then
        # --opt=value in one word (COMP_WORDBREAKS without '=')
        opt=${cur%%=*}
        local value=${cur#*=}
        case $opt in
            --json) words=$_vmgmtctl_json ;;
            --connect) words=$_vmgmtctl_uris ;;
            *) words=$(_vmgmtctl_values "$(_vmgmtctl_option_meta "$opt")") ;;
        esac
        COMPREPLY=($(compgen -W "$words" -P "$opt=" -- "$value"))
        _vmgmtctl_trim_colons
        return 0
    elif [[ $cur == -* && $dashdash == 0 ]]; then
        words="$_vmgmtctl_global $_vmgmtctl_vopts"
    elif [[ -z $verb ]]; then
        words=$_vmgmtctl_verbs
    else
        local n=${#positional[@]}
        if ((n < ${#_vmgmtctl_args[@]})); then
            meta=${_vmgmtctl_args[n]}
        elif ((${#_vmgmtctl_args[@]})) && [[ ${_vmgmtctl_args[-1]} == *... ]]; then
            meta=${_vmgmtctl_args[-1]}
        fi
        meta=${meta%...}
        # list's FILTERs are its options
        [[ $meta == FILTER ]] && words=$_vmgmtctl_vopts meta=
    fi

    case $meta in
        FILE | DEST | PATH | KEY-OR-PATH)
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -f -- "$cur"))
            _vmgmtctl_trim_colons
            return 0
            ;;
        DIR)
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -d -- "$cur"))
            _vmgmtctl_trim_colons
            return 0
            ;;
    esac
    [[ -n $meta ]] && words=$(_vmgmtctl_values "$meta")
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
    _vmgmtctl_trim_colons
}

complete -F _vmgmtctl vmgmtctl
