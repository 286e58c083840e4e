# Sourced by the CI scripts: where pyenv's Pythons are, and the newest of a minor
# version (free-threaded "3.13.0t" builds left out). `pyenv_python 3.12` prints its
# bin/python3, or says what is missing and fails.
pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"

pyenv_python() {
    local minor="$1" found=() dir
    for dir in "$pyenv_root"/versions/"$minor".*/; do
        dir="${dir%/}"
        [[ "${dir##*/}" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] && [ -x "$dir/bin/python3" ] &&
            found+=("$dir/bin/python3")
    done
    if [ ${#found[@]} -eq 0 ]; then
        echo "no pyenv Python $minor: expected $pyenv_root/versions/$minor.<micro>/bin/python3 (pyenv install $minor)" >&2
        return 1
    fi
    printf '%s\n' "${found[@]}" | sort -V | tail -n 1
}
