/* shared_lib.c - libsimjoin.so is simjoin_lib linked whole; this unit only
 * gives the shared target a source of its own (CMake needs one). */
#include "simjoin/simjoin.h"
