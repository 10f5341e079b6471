"""dwcp/amst"""
