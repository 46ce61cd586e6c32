# bash completion for keyward(1)                           -*- shell-script -*-
# Installed as /usr/share/bash-completion/completions/keyward.

_keyward() {
	local cur prev words cword
	_init_completion || return

	local commands="init agent unlock lock status add list rm sign passwd rotate policy audit version help"
	if [[ $cword -eq 1 ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
		return
	fi

	case $prev in
	--vault | --socket | --config | --unlock-file | --secret-file | --passphrase-file | --policy | --audit-log | --log)
		_filedir
		return
		;;
	--group | --use-group)
		mapfile -t COMPREPLY < <(compgen -g -- "$cur")
		return
		;;
	--log-level)
		mapfile -t COMPREPLY < <(compgen -W "debug info warn error" -- "$cur")
		return
		;;
	--lock-after | --lock-idle | --api-key | --host | --body | --header | --argon2-memory | --argon2-time | --scheme)
		return
		;;
	esac

	local opts=""
	case ${words[1]} in
	init) opts="--vault --argon2-memory --argon2-time --json" ;;
	agent) opts="--socket --vault --config --lock-after --lock-idle --log-level --log-json --unlock-file --group --use-group --policy --audit-log --audit-fail-closed --no-audit" ;;
	status | list | version) opts="--json" ;;
	add) opts="--scheme --api-key --host --meta --secret-file --passphrase-file --json" ;;
	rotate) opts="--secret-file --passphrase-file --api-key --json" ;;
	policy)
		if [[ $cword -eq 2 ]]; then
			mapfile -t COMPREPLY < <(compgen -W "check explain catalogue" -- "$cur")
			return
		fi
		opts="--policy --uid --gid --groups --unit --exe --body --scheme --json"
		;;
	audit)
		if [[ $cword -eq 2 ]]; then
			mapfile -t COMPREPLY < <(compgen -W "verify tail" -- "$cur")
			return
		fi
		opts="--log --follow -n --json"
		;;
	sign) opts="--body --header --json" ;;
	unlock | lock | rm | passwd) opts="--json" ;;
	esac
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
	fi
} && complete -F _keyward keyward
