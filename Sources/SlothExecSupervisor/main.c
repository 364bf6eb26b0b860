/* sloth-exec-supervisor: the supervisor of one `exec.run` command, as a program of its own so the
 * engine can start it without copying itself (see execsupervisor.h). Installed next to the
 * sloth-runner binary; started only by the engine. */
#include "execsupervisor.h"

int main(int argc, char **argv) { return sb_exec_supervisor_main(argc, argv); }
