// Subcommands of the kvsweep executable. Each takes the arguments after the subcommand name and
// returns the process exit code. Every command works alone and under mpirun.
#pragma once

int cmd_run(int argc, char** argv);      // mpi_runner/cmd_run.cpp
int cmd_report(int argc, char** argv);   // mpi_runner/cmd_report.cpp
int cmd_merge(int argc, char** argv);    // mpi_runner/cmd_merge.cpp
int cmd_score(int argc, char** argv);    // mpi_runner/cmd_score.cpp
int cmd_generate(int argc, char** argv); // mpi_runner/cmd_generate.cpp
int cmd_inspect(int argc, char** argv);  // mpi_runner/cmd_inspect.cpp
int cmd_tokenize(int argc, char** argv); // mpi_runner/cmd_tokenize.cpp
int cmd_methods(int argc, char** argv);  // mpi_runner/cmd_methods.cpp (lists methods and tasks)
