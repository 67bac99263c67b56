# find_python X.Y prints the path of an interpreter of Python X.Y that runs:
# pythonX.Y on PATH if it runs (a pyenv shim is found on PATH even when pyenv's
# selected version is another, and then fails), else pyenv's build of it.
find_python() {
  local candidate
  for candidate in "python$1" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/"python$1"; do
    "$candidate" -c "import sys; assert '%d.%d' % sys.version_info[:2] == '$1'; print(sys.executable)" \
      2>/dev/null && return 0
  done
  return 1
}
