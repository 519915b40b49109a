#!/bin/sh
# Turn the project's constraints.txt (the tested CPU set) into the GPU image's constraints: the same pins,
# with torch as the CUDA build of the same version (the "+cpu" local tag dropped; pip takes it from the
# PyTorch CUDA index) and faiss-cpu left out (the image installs faiss-gpu-cu12, pinned in constraints.txt;
# both provide the `faiss` module and must never share an environment).
#   sh cluster/gpu-constraints.sh constraints.txt > gpu-constraints.txt
set -eu
sed -e 's/^\(torch==[^+]*\)+cpu$/\1/' -e '/^faiss-cpu==/d' "$1"
