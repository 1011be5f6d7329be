# Copyright (c) mmaims contributors. All rights reserved.
