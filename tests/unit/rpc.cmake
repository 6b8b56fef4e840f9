# (filled by the owning module's work)
