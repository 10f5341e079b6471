"""dwcp/mode"""
