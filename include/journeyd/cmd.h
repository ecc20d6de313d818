/*
 * The sub-commands. main.c dispatches on argv[1]; each command parses its
 * own options (argv[0] is the command name) and returns the process exit
 * status: 0 success, 1 runtime failure, 2 usage or configuration error.
 * Errors go to stderr as "journeyd <cmd>: <reason>".
 */
#ifndef JOURNEYD_CMD_H
#define JOURNEYD_CMD_H

int jd_cmd_replay(int argc, char **argv);       /* src/cli/cmd_replay.c */
int jd_cmd_check_config(int argc, char **argv); /* src/cli/cmd_replay.c */
int jd_cmd_run(int argc, char **argv);          /* src/kafka/runner.c */
int jd_cmd_produce(int argc, char **argv);      /* src/cli/cmd_produce.c */
int jd_cmd_demo(int argc, char **argv);         /* src/cli/cmd_demo.c */

#endif
