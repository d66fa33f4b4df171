// lowbit: the command-line front end of the library (shared/spec/cli.md).
#include "cli.hpp"

int main(int argc, char** argv) {
  return cli::run(argc, argv);
}
