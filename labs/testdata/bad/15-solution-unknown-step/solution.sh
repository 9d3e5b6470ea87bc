set -e
# step: 01-s
true
# step: 09-nope
true
