# SPDX-License-Identifier: MIT
# docs/transformer-loss.png from the log of
#   examples/transformer --log transformer-loss.log
# run as: gnuplot -e 'log="transformer-loss.log"' docs/transformer-loss.gp  (writes transformer-loss.png)
# The bigram line is the run's own figure (it prints it), passed as bigram=2.6108.
if (!exists("log")) log = "transformer-loss.log"
if (!exists("out")) out = "transformer-loss.png"
if (!exists("bigram")) bigram = 2.6108
set terminal pngcairo size 640,360 font ",10" noenhanced
set output out
set title "examples/transformer on the fortunes text (defaults: 2 blocks, 4 heads, d_model 64)"
set xlabel "step"
set ylabel "loss per character (nats)"
set grid xtics ytics lt 0 lw 1 lc "gray"
set key top right
plot log using 1:2 with linespoints lw 2 title "train (mean over the last 100 steps)", \
     log using 1:3 with linespoints lw 2 title "validation (first 4,096 characters)", \
     bigram with lines lw 2 dt 2 title sprintf("bigram, validation (%.4f)", bigram)
