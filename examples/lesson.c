#include "bpgraph.h"
int main(void) { return 0; }
