#include "cli.hpp"
namespace cli {
int run_matmul(int, char**) { throw usage_error("not implemented yet"); }
int run_compare(int, char**) { throw usage_error("not implemented yet"); }
int run_demo(int, char**) { throw usage_error("not implemented yet"); }
}
