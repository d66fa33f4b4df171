// Configuration shared by the compute headers: the run-time backend (backend.hpp). There is no
// compile-time switch: the same headers compile to the same bodies in every translation unit.
#pragma once

#include "backend.hpp"
#include "exec.hpp"
