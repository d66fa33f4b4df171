// lowbit version. Everything public lives in `lowbit::inline v0`, so two versions of this
// header-only library linked into one program get distinct mangled names (as fmt does).
#pragma once

#define LOWBIT_VERSION_MAJOR 0
#define LOWBIT_VERSION_MINOR 1
#define LOWBIT_VERSION_PATCH 0
#define LOWBIT_VERSION_STRING "0.1.0"
